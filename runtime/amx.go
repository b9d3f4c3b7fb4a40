package runtime

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/cpu"
)

// amx holds the one answer per process to whether the tiles may be used.
var amx struct {
	once sync.Once
	err  error
	// probe decides it; tests replace it to force the refusal paths.
	probe func() error
}

func init() { amx.probe = probeAMX }

// probeAMX asks the CPU, then Linux (once per process: the permission is the
// process's, every thread's).
func probeAMX() error {
	return amxCheck(cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8, requestTileData)
}

// amxCheck is the decision: the CPU must have AMX-TILE and AMX-INT8, and the
// kernel must grant the tile data state to the process.
func amxCheck(cpuHas bool, request func() error) error {
	if !cpuHas {
		return errors.New("the CPU lacks AMX-TILE/AMX-INT8")
	}
	if err := request(); err != nil {
		return fmt.Errorf("the OS refused the tile state: %w", err)
	}
	return nil
}

// AMXError says why the amx tier cannot run in this process (nil: it can).
// The first call asks Linux for the tile state, which is then granted to the
// whole process; later calls return the same answer.
func AMXError() error {
	amx.once.Do(func() { amx.err = amx.probe() })
	return amx.err
}

// errNoTileOS is the answer where the tile state cannot be requested.
var errNoTileOS = errors.New("tile state permission is only requested on linux/amd64")
