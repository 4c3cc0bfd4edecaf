// Package all registers lapps' catalogers. A cataloger is added by adding
// its folder under indexer/ and one line to Catalogers.
package all

import (
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/apk"
	"github.com/lapps/lapps/indexer/dotnet"
	"github.com/lapps/lapps/indexer/dpkg"
	"github.com/lapps/lapps/indexer/gobinary"
	"github.com/lapps/lapps/indexer/gotoolchain"
	"github.com/lapps/lapps/indexer/java"
	"github.com/lapps/lapps/indexer/npm"
	"github.com/lapps/lapps/indexer/osrelease"
	"github.com/lapps/lapps/indexer/php"
	"github.com/lapps/lapps/indexer/python"
	"github.com/lapps/lapps/indexer/rpm"
	"github.com/lapps/lapps/indexer/ruby"
	"github.com/lapps/lapps/indexer/rust"
)

// Catalogers returns one of each cataloger, distribution catalogers
// first. Changing what they find calls for a bump of indexer.Version.
func Catalogers() []indexer.Cataloger {
	return []indexer.Cataloger{
		osrelease.New(),
		dpkg.New(),
		apk.New(),
		rpm.New(),
		gobinary.New(),
		gotoolchain.New(),
		python.New(),
		npm.New(),
		java.New(),
		ruby.New(),
		php.New(),
		rust.New(),
		dotnet.New(),
	}
}
