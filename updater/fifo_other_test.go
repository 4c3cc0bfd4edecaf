//go:build !unix

package updater_test

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs here") }
