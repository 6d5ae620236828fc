package loadgen

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// ODSSystem is the identifier system of ODS organisation codes.
const ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

// towns are 100 places with their postcode areas.
var towns = [...]struct{ name, area string }{
	{"Aberdeen", "AB"}, {"Aylesbury", "HP"}, {"Barnsley", "S"}, {"Barrow", "LA"}, {"Basingstoke", "RG"},
	{"Bath", "BA"}, {"Bedford", "MK"}, {"Belfast", "BT"}, {"Birmingham", "B"}, {"Blackburn", "BB"},
	{"Blackpool", "FY"}, {"Bolton", "BL"}, {"Bournemouth", "BH"}, {"Bradford", "BD"}, {"Brighton", "BN"},
	{"Bristol", "BS"}, {"Burnley", "BB"}, {"Bury St Edmunds", "IP"}, {"Cambridge", "CB"}, {"Canterbury", "CT"},
	{"Cardiff", "CF"}, {"Carlisle", "CA"}, {"Chelmsford", "CM"}, {"Cheltenham", "GL"}, {"Chester", "CH"},
	{"Chesterfield", "S"}, {"Colchester", "CO"}, {"Coventry", "CV"}, {"Crawley", "RH"}, {"Darlington", "DL"},
	{"Derby", "DE"}, {"Doncaster", "DN"}, {"Dorchester", "DT"}, {"Dudley", "DY"}, {"Dundee", "DD"},
	{"Durham", "DH"}, {"Eastbourne", "BN"}, {"Edinburgh", "EH"}, {"Exeter", "EX"}, {"Gateshead", "NE"},
	{"Glasgow", "G"}, {"Gloucester", "GL"}, {"Grimsby", "DN"}, {"Guildford", "GU"}, {"Halifax", "HX"},
	{"Harrogate", "HG"}, {"Hastings", "TN"}, {"Hereford", "HR"}, {"Huddersfield", "HD"}, {"Hull", "HU"},
	{"Inverness", "IV"}, {"Ipswich", "IP"}, {"Kendal", "LA"}, {"Kettering", "NN"}, {"Kidderminster", "DY"},
	{"King's Lynn", "PE"}, {"Lancaster", "LA"}, {"Leeds", "LS"}, {"Leicester", "LE"}, {"Lincoln", "LN"},
	{"Liverpool", "L"}, {"Luton", "LU"}, {"Maidstone", "ME"}, {"Manchester", "M"}, {"Margate", "CT"},
	{"Middlesbrough", "TS"}, {"Milton Keynes", "MK"}, {"Newport", "NP"}, {"Northampton", "NN"}, {"Norwich", "NR"},
	{"Nottingham", "NG"}, {"Oldham", "OL"}, {"Oxford", "OX"}, {"Peterborough", "PE"}, {"Plymouth", "PL"},
	{"Poole", "BH"}, {"Portsmouth", "PO"}, {"Preston", "PR"}, {"Reading", "RG"}, {"Rochdale", "OL"},
	{"Rotherham", "S"}, {"Salford", "M"}, {"Salisbury", "SP"}, {"Scarborough", "YO"}, {"Sheffield", "S"},
	{"Shrewsbury", "SY"}, {"Southampton", "SO"}, {"Southend-on-Sea", "SS"}, {"Stockport", "SK"}, {"Stoke-on-Trent", "ST"},
	{"Sunderland", "SR"}, {"Swansea", "SA"}, {"Swindon", "SN"}, {"Taunton", "TA"}, {"Telford", "TF"},
	{"Truro", "TR"}, {"Wakefield", "WF"}, {"Warrington", "WA"}, {"Wolverhampton", "WV"}, {"York", "YO"},
}

// kinds are 20 kinds of organisation with an ODS role code.
var kinds = [...]struct{ name, role, display string }{
	{"Medical Centre", "RO76", "GP PRACTICE"}, {"Surgery", "RO76", "GP PRACTICE"},
	{"Health Centre", "RO76", "GP PRACTICE"}, {"Family Practice", "RO76", "GP PRACTICE"},
	{"Group Practice", "RO76", "GP PRACTICE"}, {"Pharmacy", "RO182", "PHARMACY"},
	{"Chemist", "RO182", "PHARMACY"}, {"Dental Practice", "RO110", "DENTAL PRACTICE"},
	{"Community Hospital", "RO198", "NHS TRUST SITE"}, {"General Hospital", "RO198", "NHS TRUST SITE"},
	{"Walk-in Centre", "RO198", "NHS TRUST SITE"}, {"Urgent Treatment Centre", "RO198", "NHS TRUST SITE"},
	{"Opticians", "RO268", "OPTOMETRY"}, {"Eye Clinic", "RO268", "OPTOMETRY"},
	{"Care Home", "RO101", "CARE HOME"}, {"Hospice", "RO101", "HOSPICE"},
	{"Mental Health Unit", "RO198", "NHS TRUST SITE"}, {"Physiotherapy Service", "RO172", "INDEPENDENT SECTOR"},
	{"Sexual Health Clinic", "RO172", "INDEPENDENT SECTOR"}, {"Primary Care Network", "RO272", "PRIMARY CARE NETWORK"},
}

var streets = [...]string{"High Street", "Station Road", "Church Lane", "Park Road", "London Road",
	"Victoria Road", "Mill Lane", "Green Lane", "Manor Road", "Kings Road", "Queens Road", "North Street"}

// Organization i of the deterministic data set. Every i ≥ 0 gives a
// distinct ODS code (letter + letter + 5 digits, scrambled within each
// block of 100,000 so that codes do not arrive in index order) and a
// distinct name "<Town> <Kind> <serial>" (100 towns × 20 kinds).
type Organization struct {
	Index    int
	ODS      string
	Name     string
	Prefix   string // "<Town> <Kind>": a name search prefix matching ~1/2000 of the set
	Town     string
	Postcode string
}

// Org returns organisation i.
func Org(i int) Organization {
	t, k := towns[i%len(towns)], kinds[(i/len(towns))%len(kinds)]
	combos := len(towns) * len(kinds)
	block, n := i/100000, i%100000
	digits := (n*7919 + 12345) % 100000 // a bijection on 0..99999 (gcd(7919, 10^5) = 1)
	ods := fmt.Sprintf("%c%c%05d", 'A'+rune(block/26%26), 'A'+rune(block%26), digits)
	prefix := t.name + " " + k.name
	return Organization{
		Index:    i,
		ODS:      ods,
		Name:     prefix + " " + strconv.Itoa(i/combos+1),
		Prefix:   prefix,
		Town:     t.name,
		Postcode: fmt.Sprintf("%s%d %d%c%c", t.area, 1+i%29, i%10, 'A'+rune(i/10%26), 'A'+rune(i/260%26)),
	}
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type concept struct {
	Coding []coding `json:"coding"`
}

type contact struct {
	System string `json:"system"`
	Value  string `json:"value"`
	Use    string `json:"use"`
}

type address struct {
	Use        string   `json:"use"`
	Line       []string `json:"line"`
	City       string   `json:"city"`
	PostalCode string   `json:"postalCode"`
	Country    string   `json:"country"`
}

type orgJSON struct {
	ResourceType string       `json:"resourceType"`
	Identifier   []identifier `json:"identifier"`
	Active       bool         `json:"active"`
	Type         []concept    `json:"type"`
	Name         string       `json:"name"`
	Telecom      []contact    `json:"telecom"`
	Address      []address    `json:"address"`
}

// Resource returns the FHIR JSON Organization (about 450 bytes).
func (o Organization) Resource() json.RawMessage {
	k := kinds[(o.Index/len(towns))%len(kinds)]
	b, err := json.Marshal(orgJSON{
		ResourceType: "Organization",
		Identifier:   []identifier{{ODSSystem, o.ODS}},
		Active:       o.Index%17 != 0,
		Type:         []concept{{[]coding{{"https://fhir.nhs.uk/CodeSystem/organisation-role", k.role, k.display}}}},
		Name:         o.Name,
		Telecom:      []contact{{"phone", fmt.Sprintf("01%03d %06d", o.Index%1000, o.Index%1000000), "work"}},
		Address: []address{{"work", []string{strconv.Itoa(1+o.Index%250) + " " + streets[o.Index%len(streets)]},
			o.Town, o.Postcode, "GB"}},
	})
	if err != nil {
		panic(err) // plain strings and slices always marshal
	}
	return b
}

// TransactionBundle returns a transaction Bundle creating organisations
// first..first+n-1 with POST entries.
func TransactionBundle(first, n int) []byte {
	type request struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	}
	type entry struct {
		FullURL  string          `json:"fullUrl"`
		Request  request         `json:"request"`
		Resource json.RawMessage `json:"resource"`
	}
	b := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Entry        []entry `json:"entry"`
	}{ResourceType: "Bundle", Type: "transaction", Entry: make([]entry, n)}
	for j := range n {
		i := first + j
		b.Entry[j] = entry{
			FullURL:  fmt.Sprintf("urn:uuid:0b5e7c1a-0000-4000-8000-%012x", i),
			Request:  request{Method: "POST", URL: "Organization"},
			Resource: Org(i).Resource(),
		}
	}
	out, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	return out
}
