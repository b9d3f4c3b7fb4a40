package codegen

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openAnon opens an unnamed file in dir (O_TMPFILE): a kill while it is
// written leaves nothing behind.
func openAnon(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// linkRename gives f, opened by openAnon, the name tmp and renames it to path.
// A file linked but not renamed is what a kill leaves, so the two system calls
// go back to back, without the Go scheduler in between (RawSyscall).
func linkRename(f *os.File, tmp, path string) error {
	src, err := unix.BytePtrFromString(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return err
	}
	dst, err := unix.BytePtrFromString(tmp)
	if err != nil {
		return err
	}
	to, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	fdcwd := unix.AT_FDCWD // a variable: the constant -100 does not convert to uintptr
	at := uintptr(fdcwd)
	if _, _, e := unix.RawSyscall6(unix.SYS_LINKAT, at, uintptr(unsafe.Pointer(src)), at, uintptr(unsafe.Pointer(dst)), unix.AT_SYMLINK_FOLLOW, 0); e != 0 {
		return errLink{e}
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_RENAMEAT, at, uintptr(unsafe.Pointer(dst)), at, uintptr(unsafe.Pointer(to)), 0, 0); e != 0 {
		os.Remove(tmp)
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: e}
	}
	return nil
}

// errLink is a failed link: the file could not be named here (no /proc, say).
type errLink struct{ error }

// guard starts a process that removes the temporary names when this one
// exits, killed or not, and returns what lets it go once they are renamed:
// a kill during a link or the rename after it (which the kernel may abandon
// for the pending kill) would leave one behind. Without /bin/sh it guards
// nothing, and the next build removes such a file.
func guard(names []string) (release func()) {
	r, w, err := os.Pipe()
	if err != nil {
		return func() {}
	}
	defer r.Close()
	// read returns when the write end closes, that is when this process ends
	// or release closes it.
	cmd := exec.Command("/bin/sh", "-c", `read -r _; rm -f -- "$@"`, "ptqc-guard")
	cmd.Args = append(cmd.Args, names...)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // outlives a kill of our process group
	if err := cmd.Start(); err != nil {
		w.Close()
		return func() {}
	}
	return func() {
		w.Close()
		cmd.Wait()
	}
}
