//go:build !linux

package codegen

import (
	"errors"
	"os"
)

// openAnon: only Linux has unnamed files; WriteDir uses named ones.
func openAnon(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkRename(*os.File, string, string) error { return errLink{errors.ErrUnsupported} }

// errLink is a failed link: the file could not be named here.
type errLink struct{ error }

// guard: named temporary files that a kill leaves are removed by the next build.
func guard([]string) func() { return func() {} }
