package vuln

import (
	"regexp"
	"strings"
)

// advisoryPrefixes start the ids of distribution advisories: documents
// that announce an update fixing one or more vulnerabilities, rather than
// one vulnerability each. Red Hat and its rebuilds (RHSA/RHBA/RHEA,
// AlmaLinux ALSA/ALBA/ALEA, Rocky RLSA/RLBA/RLEA, Oracle ELSA/ELBA/ELEA,
// CentOS CESA), Debian (DSA, DLA, DTSA), Ubuntu (USN, LSN), Amazon
// (ALAS), SUSE, Fedora, Gentoo, Mageia and Photon.
var advisoryPrefixes = []string{
	"RHSA-", "RHBA-", "RHEA-",
	"ALSA-", "ALBA-", "ALEA-",
	"RLSA-", "RLBA-", "RLEA-", "RXSA-",
	"ELSA-", "ELBA-", "ELEA-",
	"CESA-", "CEBA-", "CEEA-",
	"DSA-", "DLA-", "DTSA-",
	"USN-", "LSN-",
	"ALAS-", "ALAS2-", "ALAS2023-", "ALASKERNEL-",
	"SUSE-SU-", "SUSE-RU-", "SUSE-FU-", "OPENSUSE-SU-",
	"FEDORA-", "GLSA-", "MGASA-", "PHSA-",
}

// IsAdvisoryID reports whether id is the id of a distribution advisory
// (ALSA-2024:0001, RHSA-2024:1234, DSA-5514-1, USN-6000-1 …) rather than
// of one vulnerability. The CVE ids such an advisory names are the CVEs it
// fixes (Record.CVEs), not other names of itself: they never merge it with
// the findings of those CVEs.
func IsAdvisoryID(id string) bool {
	id = strings.ToUpper(strings.TrimSpace(id))
	for _, p := range advisoryPrefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// IsCVE reports whether id is a CVE id ("CVE-2024-1234", any case).
func IsCVE(id string) bool {
	return len(id) > 4 && strings.EqualFold(id[:4], "CVE-")
}

var cveIDPattern = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// CVEID returns s trimmed and upper-cased, and whether that is a well-formed
// CVE id (CVE-YYYY-NNNN…): the check every source that keys records by CVE
// (kev, epss, cve5) applies before it stores one.
func CVEID(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	return s, cveIDPattern.MatchString(s)
}
