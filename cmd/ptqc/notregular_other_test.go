//go:build !unix

package main

import "testing"

func notRegular(t *testing.T) map[string]string { return map[string]string{t.TempDir(): "a directory"} }
