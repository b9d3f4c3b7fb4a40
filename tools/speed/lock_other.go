//go:build !unix

package main

// lockMachine: no lock where there is no flock; do not run two at once.
func lockMachine() (release func(), err error) { return func() {}, nil }
