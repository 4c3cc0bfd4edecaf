// Package all registers every output format of lapps' reports: import it
// for its side effects wherever -o or ?format= is offered.
package all

import (
	_ "github.com/lapps/lapps/report/openvex"  // openvex
	_ "github.com/lapps/lapps/report/sarif"    // sarif
	_ "github.com/lapps/lapps/report/template" // template
)
