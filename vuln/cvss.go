package vuln

// CVSSSeverity returns the qualitative rating of a CVSS base score with
// the standard bands: 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10
// critical (v3 and v4; v2 has no critical, so high from 7.0). A score of 0
// is none: negligible.
func CVSSSeverity(c CVSS) Severity {
	s := c.Score
	switch {
	case s <= 0:
		return SeverityNegligible
	case s >= 9 && c.Version != "2.0":
		return SeverityCritical
	case s >= 7:
		return SeverityHigh
	case s >= 4:
		return SeverityMedium
	}
	return SeverityLow
}

// BestCVSS returns the rating to go by among cs: the scored one of the
// highest CVSS version, the highest score among those; ok is false when
// none carries a score.
func BestCVSS(cs []CVSS) (best CVSS, ok bool) {
	for _, c := range cs {
		if c.Score <= 0 || c.Score > 10 {
			continue
		}
		if !ok || CVSSVersionRank(c.Version) > CVSSVersionRank(best.Version) || (c.Version == best.Version && c.Score > best.Score) {
			best, ok = c, true
		}
	}
	return best, ok
}

// CVSSVersionRank orders CVSS versions: "2.0" < "3.0" < "3.1" < "4.0";
// unknown spellings rank 0, first.
func CVSSVersionRank(v string) int {
	switch v {
	case "2.0", "2":
		return 1
	case "3.0", "3":
		return 2
	case "3.1":
		return 3
	case "4.0", "4":
		return 4
	}
	return 0
}
