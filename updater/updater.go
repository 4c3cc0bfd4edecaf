// Package updater fetches vulnerability data from the configured sources,
// parses it with the parser of each source's type, and stores each run that
// changed the data as one update operation. One folder per source type
// (updater/osv, updater/debian, …) registers a Parser with Register.
package updater

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/lapps/lapps/vuln"
)

// Parser turns a fetched feed into records. The feed is a file system: a
// downloaded file appears as one file named after the last element of its
// URL; a zip archive (an OSV all.zip) is opened as the archive's tree; a
// local directory is the directory. A parser walks what it gets and
// returns an error, never a partial result, when the feed does not parse.
//
// Feeds are hostile. The file system Fetch gives bounds every read
// (Limits): a parser reads files as streams or with fs.ReadFile, never
// allocating by a size a file claims, decodes JSON through a JSONGuard
// and a document whole only within Limits.DocumentBytes (YAML within
// Limits.YAMLBytes), all from LimitsOf(feed). A malformed range or
// version is skipped, never widened to every version, and counted with
// Skip. A panic is recovered by Run, but a parser that starts goroutines
// must recover in them itself.
type Parser interface {
	Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error)
}

var (
	mu      sync.RWMutex
	parsers = map[string]Parser{}
)

// Register makes a parser available under a source type name ("osv",
// "debian-tracker", …). It panics when the name is taken, as
// database/sql.Register does.
func Register(typ string, p Parser) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := parsers[typ]; dup {
		panic("updater: Register called twice for type " + typ)
	}
	parsers[typ] = p
}

// Lookup returns the parser registered for a source type.
func Lookup(typ string) (Parser, error) {
	mu.RLock()
	defer mu.RUnlock()
	p, ok := parsers[typ]
	if !ok {
		return nil, fmt.Errorf("unknown source type %q (known: %s)", typ, strings.Join(typesLocked(), ", "))
	}
	return p, nil
}

// Types lists the registered source types.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	return typesLocked()
}

func typesLocked() []string {
	t := make([]string, 0, len(parsers))
	for k := range parsers {
		t = append(t, k)
	}
	sort.Strings(t)
	return t
}
