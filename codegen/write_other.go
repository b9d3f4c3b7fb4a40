//go:build !linux

package codegen

import (
	"errors"
	"os"
)

// openAnon: only Linux has unnamed files; WriteDir uses named ones.
func openAnon(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkAnon(*os.File, string) error { return errors.ErrUnsupported }
