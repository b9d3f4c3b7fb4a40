//go:build !(linux && amd64)

package runtime

func requestTileData() error { return errNoTileOS }
