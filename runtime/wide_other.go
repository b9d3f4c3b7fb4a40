//go:build !amd64

package runtime

func cpuVendorFamily() (string, uint32) { return "", 0 }
