// Package e2e holds lapps' end-to-end tests: `lapps serve` runs as a real
// process (built once by TestMain) on its own database, next to the real
// distribution registry configured to notify it of pushes and a webhook
// receiver in the test, everything on 127.0.0.1. They cover scan on push,
// notifications of new and withdrawn advisories, delivery while the
// receiver is down, delivery after the server is killed with SIGKILL,
// scrub and garbage collection. The package has no code outside its
// tests.
package e2e
