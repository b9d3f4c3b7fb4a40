package runtime

import "syscall"

// Linux's interface to dynamically enabled XSAVE features (arch/x86/include/uapi/asm/prctl.h).
const (
	archReqXcompPerm  = 0x1023 // ARCH_REQ_XCOMP_PERM
	xfeatureXtiledata = 18     // XFEATURE_XTILEDATA
)

// requestTileData asks the kernel for the AMX tile data state: without it the
// first tile instruction kills the process (SIGILL). Kernels before 5.16 or
// without AMX support answer EINVAL; a process whose signal stacks are too
// small for the larger signal frame, ENOSPC.
func requestTileData() error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0); e != 0 {
		return e
	}
	return nil
}
