package matching

import "strings"

// nicknameGroups lists given-name variants: each line is a formal name
// followed by its common English short forms and spelling variants. Two
// given names are variants of one another when they appear on a common
// line; a name may appear on several lines ("alex", "sam", "chris").
var nicknameGroups = []string{
	"william bill billy will willy willie liam",
	"robert bob bobby rob robbie bert",
	"elizabeth liz lizzie beth betty eliza libby elsie bessie lisa",
	"margaret peggy maggie meg marge margie greta rita madge",
	"john jack johnny jon",
	"james jim jimmy jamie",
	"richard dick rick ricky rich richie",
	"edward ed eddie ted teddy ned",
	"thomas tom tommy",
	"anthony tony",
	"michael mike mick mickey micky",
	"christopher chris kit",
	"catherine kate kathy katie cath kay kitty katherine kathryn",
	"jennifer jen jenny",
	"alexander alex sandy xander",
	"alexandra alex sandra lexi",
	"daniel dan danny",
	"david dave davy",
	"joseph joe joey",
	"samuel sam sammy",
	"samantha sam sammy",
	"benjamin ben benny",
	"matthew matt",
	"nicholas nick nicky",
	"patrick pat paddy",
	"patricia pat patsy trish tricia",
	"peter pete",
	"stephen steve steven stevie",
	"timothy tim timmy",
	"andrew andy drew",
	"charles charlie chas chuck",
	"charlotte charlie lottie",
	"frederick fred freddie freddy",
	"henry harry hal hank",
	"harold harry hal",
	"lawrence larry laurie",
	"leonard len lenny leo",
	"ronald ron ronnie",
	"donald don donny",
	"kenneth ken kenny",
	"gerald gerry jerry",
	"jeremy jerry jez",
	"raymond ray",
	"gregory greg",
	"jonathan jon jonny",
	"nathaniel nat nate nathan",
	"philip phil pip phillip",
	"susan sue susie suzanne",
	"deborah debbie deb debra",
	"rebecca becky becca",
	"victoria vicky vicki tori",
	"abigail abby abbie gail",
	"amanda mandy",
	"barbara barb babs",
	"dorothy dot dottie dolly",
	"eleanor ellie nell nora elinor",
	"helen nell nellie",
	"frances fran fanny",
	"francis frank frankie",
	"gillian gill jill",
	"jacqueline jackie",
	"josephine jo josie",
	"judith judy",
	"louise lou lulu",
	"mary molly polly mae",
	"sarah sally sadie sara",
	"theresa tess tessa terri teresa",
	"valerie val",
	"christine chris tina chrissie christina",
	"ann anne anna annie nan nancy",
	"caroline carol carrie",
	"albert al bert bertie",
	"alfred alf alfie",
	"archibald archie",
	"douglas doug",
	"geoffrey geoff jeff jeffrey",
	"malcolm mal",
	"terence terry",
	"walter walt wally",
	"bernard bernie",
	"isabella bella izzy isabel isobel",
	"olivia liv livvy",
	"florence flo florrie",
	"harriet hattie",
	"matilda tilly",
	"penelope penny",
	"pamela pam",
	"cynthia cindy",
	"lucinda lucy",
	"kimberley kim kimberly",
	"zachary zach zak",
	"oliver ollie",
	"edmund ed",
	"gabriel gabe",
	"jessica jess jessie",
	"natalie nat",
	"angela angie",
	"diana di",
	"georgina georgie gina",
	"ian iain",
	"sean shaun shawn",
	"zoe zoey",
	"leslie les lesley",
}

// nicknameIndex maps a folded given name to the indices of its groups.
var nicknameIndex = buildNicknameIndex()

// nicknameCanon maps a folded given name to the formal names (first word
// of each line) of its groups, for blocking keys.
var nicknameCanon map[string][]string

func buildNicknameIndex() map[string][]uint16 {
	idx := make(map[string][]uint16)
	nicknameCanon = make(map[string][]string)
	for g, line := range nicknameGroups {
		words := strings.Fields(line)
		for _, w := range words {
			if n := idx[w]; len(n) == 0 || n[len(n)-1] != uint16(g) {
				idx[w] = append(idx[w], uint16(g))
				nicknameCanon[w] = append(nicknameCanon[w], words[0])
			}
		}
	}
	return idx
}

// Variants reports whether two given names are known variants of one
// another (Bill and William, Peggy and Margaret). Names are normalised
// first (see NormalizeName); equal names are not variants.
func Variants(a, b string) bool {
	return variants(normName(a).joined, normName(b).joined)
}

func variants(a, b string) bool {
	if a == b {
		return false
	}
	ga, gb := nicknameIndex[a], nicknameIndex[b]
	for _, x := range ga {
		for _, y := range gb {
			if x == y {
				return true
			}
		}
	}
	return false
}

// canonicalGiven returns the formal names a normalised given name stands
// for ("bill" → ["william"], "alex" → ["alexander", "alexandra"]), or the
// name itself when it is in no group.
func canonicalGiven(n string) []string {
	if c, ok := nicknameCanon[n]; ok {
		return c
	}
	return []string{n}
}

// NicknamePairs returns the number of (name, variant) pairs in the table.
func NicknamePairs() int {
	pairs := 0
	for _, line := range nicknameGroups {
		pairs += len(strings.Fields(line)) - 1
	}
	return pairs
}
