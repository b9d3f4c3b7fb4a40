package ptq

import (
	"fmt"
	"strings"

	"github.com/ptqc/ptqc/internal/safesize"
	"github.com/ptqc/ptqc/ir"
)

// maxClassesFile bounds a class-names file: 1000 ImageNet names take 10 KB.
const maxClassesFile = 1 << 20

// ReadClasses reads a file of class names, one a line (blank lines at the
// end ignored, \r\n accepted), as torchvision's ImageNet categories file is.
func ReadClasses(path string) ([]string, error) {
	b, err := safesize.ReadFile(path, maxClassesFile, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("class names %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, fmt.Errorf("class names %s: the file is empty", path)
	}
	return lines, nil
}

// ApplyClasses replaces d's class names with those of the file at path (no
// change when path is empty) and checks them against the model's outputs.
func ApplyClasses(d *ir.Description, path string) error {
	if path == "" {
		return nil
	}
	names, err := ReadClasses(path)
	if err != nil {
		return err
	}
	old := d.Classes
	d.Classes = names
	if err := d.ValidateClasses(); err != nil {
		d.Classes = old
		return fmt.Errorf("class names %s: %w", path, err)
	}
	return nil
}
