//go:build race

package sqlite

// raceEnabled: the race detector slows SQLite's pure-Go code down tenfold
// or more, so the tests that load large updates load smaller ones.
const raceEnabled = true
