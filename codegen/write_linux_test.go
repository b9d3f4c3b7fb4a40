package codegen

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestGuard kills a process holding a guard over a file name and checks that
// the guard removes the file: what a kill between a link and its rename leaves.
func TestGuard(t *testing.T) {
	if name := os.Getenv("PTQC_GUARD_NAME"); name != "" {
		// The child: guard name, say so, wait for the kill.
		release := guard([]string{name})
		defer release()
		os.Stdout.WriteString("guarded\n")
		time.Sleep(time.Minute)
		return
	}
	name := filepath.Join(t.TempDir(), tempPrefix+"x")
	if err := os.WriteFile(name, []byte("left"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGuard$")
	cmd.Env = append(os.Environ(), "PTQC_GUARD_NAME="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "guarded\n" {
		t.Fatalf("child said %q, %v", l, err)
	}
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("the file went before the kill: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The guard runs on its own: give it up to ten seconds.
	for range 200 {
		if _, err := os.Stat(name); os.IsNotExist(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("the guard did not remove the file after the kill")
}
