package compiler

import (
	"strings"
	"testing"
)

// TestDecodeOldVersion: a version-01 file (int32 biases) is refused with both
// versions named and the way out.
func TestDecodeOldVersion(t *testing.T) {
	b, err := tinyModel().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != "PTQCQM02" {
		t.Fatalf("magic %q, want PTQCQM02", b[:8])
	}
	copy(b[6:8], "01")
	_, err = DecodeModel(b)
	if err == nil {
		t.Fatal("a version 01 file decoded")
	}
	for _, want := range []string{`"01"`, `"02"`, "-save-qmodel"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
