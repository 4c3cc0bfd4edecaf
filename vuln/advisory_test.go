package vuln

import "testing"

func TestIsAdvisoryID(t *testing.T) {
	for id, want := range map[string]bool{
		"ALSA-2024:3339": true, "ALBA-2025:20841": true, "ALEA-2024:1": true, "RLSA-2021:3891": true, "RHSA-2024:1234": true,
		"RHBA-2024:1": true, "DSA-5514-1": true, "DLA-3000-1": true, "USN-6000-1": true, "ELSA-2024-1": true, " alsa-2024:1 ": true,
		"CVE-2024-1234": false, "GHSA-ppp9-7jff-5vj2": false, "GO-2024-3106": false, "PYSEC-2020-96": false, "UBUNTU-CVE-2024-1": false,
		"DEBIAN-CVE-2024-1": false, "CGA-224q-ccj5-2p53": false, "RUSTSEC-2024-1": false, "": false, "DSA": false,
	} {
		if got := IsAdvisoryID(id); got != want {
			t.Errorf("IsAdvisoryID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestCVSSSeverityAndBest(t *testing.T) {
	for _, tt := range []struct {
		c    CVSS
		want Severity
	}{
		{CVSS{Version: "3.1", Score: 0}, SeverityNegligible},
		{CVSS{Version: "3.1", Score: 0.1}, SeverityLow},
		{CVSS{Version: "3.1", Score: 3.9}, SeverityLow},
		{CVSS{Version: "3.1", Score: 4.0}, SeverityMedium},
		{CVSS{Version: "4.0", Score: 6.9}, SeverityMedium},
		{CVSS{Version: "3.0", Score: 7.0}, SeverityHigh},
		{CVSS{Version: "3.1", Score: 8.9}, SeverityHigh},
		{CVSS{Version: "3.1", Score: 9.0}, SeverityCritical},
		{CVSS{Version: "2.0", Score: 10}, SeverityHigh},
	} {
		if got := CVSSSeverity(tt.c); got != tt.want {
			t.Errorf("CVSSSeverity(%+v) = %s, want %s", tt.c, got, tt.want)
		}
	}
	best, ok := BestCVSS([]CVSS{{Version: "3.1", Score: 9.8}, {Version: "4.0", Score: 5.1}, {Version: "4.0", Vector: "CVSS:4.0/unscored"}, {Version: "2.0", Score: 10}})
	if !ok || best.Version != "4.0" || best.Score != 5.1 {
		t.Errorf("BestCVSS = %+v %v, want the 4.0 score", best, ok)
	}
	if _, ok := BestCVSS([]CVSS{{Version: "3.1", Vector: "x"}, {Version: "3.1", Score: 11}}); ok {
		t.Error("BestCVSS of unscored ratings: ok")
	}
}
