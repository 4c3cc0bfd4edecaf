// Package all registers every output format of package report: import it
// for its side effects wherever users choose a format (the CLI, the
// server).
package all

import (
	// CycloneDX 1.6 JSON ("cyclonedx").
	_ "github.com/lapps/lapps/report/cyclonedx"
	// SPDX 2.3 JSON ("spdx-json").
	_ "github.com/lapps/lapps/report/spdx"
)
