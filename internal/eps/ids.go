package eps

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/openspine/openspine/internal/trace"
)

// Identifier systems of a prescription.
const (
	SystemShortForm = "https://fhir.nhs.uk/Id/prescription-order-number"
	SystemLongForm  = "https://fhir.nhs.uk/Id/prescription"
	SystemItem      = "https://fhir.nhs.uk/Id/prescription-order-item-number"
	SystemODS       = "https://fhir.nhs.uk/Id/ods-organization-code"
	SystemNHSNumber = "https://fhir.nhs.uk/Id/nhs-number"
	SystemRole      = "https://fhir.nhs.uk/Id/sds-role-profile-id"
	SystemUser      = "https://fhir.nhs.uk/Id/sds-user-id"
	SystemUUID      = "https://tools.ietf.org/html/rfc4122"
)

// checkAlphabet is the ISO/IEC 7064 MOD 37-2 alphabet with '+' in place of '*'.
const checkAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+"

var shortFormPattern = regexp.MustCompile(`^[0-9A-F]{6}-[0-9A-Z]{6}-[0-9A-F]{5}[0-9A-Z+]$`)

// CheckCharacter computes the MOD 37-2 check character of the 17
// characters of a short-form prescription id (hyphens are skipped).
// ok is false when a character is outside the alphabet.
func CheckCharacter(s string) (c byte, ok bool) {
	total := 0
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		v := strings.IndexByte(checkAlphabet, s[i])
		if v < 0 {
			return 0, false
		}
		total = (total + v) * 2 % 37
		n++
	}
	return checkAlphabet[(38-total)%37], n > 0
}

// ShortFormProblem says what is wrong with a short-form prescription id:
// "" when it is valid, "format" when it is not XXXXXX-XXXXXX-XXXXXC, or
// "check" when only its check character is wrong.
func ShortFormProblem(id string) string {
	if !shortFormPattern.MatchString(id) {
		return "format"
	}
	c, ok := CheckCharacter(id[:len(id)-1])
	if !ok || c != id[len(id)-1] {
		return "check"
	}
	return ""
}

// ValidShortForm reports whether id is a well-formed short-form id with
// the right check character.
func ValidShortForm(id string) bool { return ShortFormProblem(id) == "" }

// PaddedODS is the ODS code as it appears in the middle block of a
// short-form id: upper case, left-padded with '0' to six characters.
func PaddedODS(ods string) string {
	ods = strings.ToUpper(ods)
	if len(ods) < 6 {
		ods = strings.Repeat("0", 6-len(ods)) + ods
	}
	return ods
}

// NewShortFormID generates a short-form prescription id for a prescriber
// organisation: 6 random hex characters, the padded ODS code, 5 random hex
// characters (the contract's per-organisation sequence; random here) and
// the check character. ods must be at most six letters and digits.
func NewShortFormID(ods string) string {
	var b [6]byte
	rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	body := h[:6] + "-" + PaddedODS(ods) + "-" + h[6:11]
	c, _ := CheckCharacter(body)
	return body + string(c)
}

// NewLongFormID generates a long-form prescription id (a random UUID).
func NewLongFormID() string { return trace.NewTimeUUID() }
