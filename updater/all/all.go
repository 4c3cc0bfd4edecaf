// Package all registers every source type's parser: import it for its
// side effects. A source type is added by adding its folder under
// updater/ and one line here.
package all

import (
	_ "github.com/lapps/lapps/updater/alpine"  // "alpine-secdb"
	_ "github.com/lapps/lapps/updater/csaf"    // "csaf"
	_ "github.com/lapps/lapps/updater/cve5"    // "cve5"
	_ "github.com/lapps/lapps/updater/debian"  // "debian-tracker", "debian-dsa"
	_ "github.com/lapps/lapps/updater/epss"    // "epss"
	_ "github.com/lapps/lapps/updater/kev"     // "kev"
	_ "github.com/lapps/lapps/updater/osv"     // "osv"
	_ "github.com/lapps/lapps/updater/rustsec" // "rustsec"
	_ "github.com/lapps/lapps/updater/ubuntu"  // "ubuntu-uct"
)
