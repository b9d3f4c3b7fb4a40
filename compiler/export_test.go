package compiler

import "testing"

// For the external tests (package compiler_test), which quantize models with
// the driver (ptq) and so cannot be internal: ptq imports compiler.
var (
	Magic     = magic
	TinyModel = tinyModel
	RoundTrip = roundTrip
)

// ZooModel is zooModel's model.
func ZooModel(tb testing.TB) *Model {
	m, _, _ := zooModel(tb)
	return m
}

// HostileModels are hostileModels' models.
func HostileModels() []*Model {
	var ms []*Model
	for _, c := range hostileModels() {
		ms = append(ms, c.m)
	}
	return ms
}
