//go:build !unix

package main

import "time"

// cpuTime is the process's CPU time so far, where the OS tells it.
func cpuTime() (time.Duration, bool) { return 0, false }
