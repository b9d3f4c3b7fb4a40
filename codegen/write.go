package codegen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// fileNames are all the files a build may write, sorted: a file of any other
// name in the output directory is never ptqc's.
var fileNames = []string{"doc.go", "forward_amd64.go", "forward_other.go", "kernels.go", "kernels_amd64.go", "kernels_amd64.s", "model.go", "weights.bin"}

// asmFileNames are the files only a build with assembly writes.
var asmFileNames = []string{"forward_amd64.go", "forward_other.go", "kernels_amd64.go", "kernels_amd64.s"}

// FileNames returns the files a build writes, with or without assembly, sorted.
func FileNames(asm bool) []string {
	if asm {
		return slices.Clone(fileNames)
	}
	return slices.DeleteFunc(slices.Clone(fileNames), func(n string) bool { return slices.Contains(asmFileNames, n) })
}

// tempPrefix starts the names of WriteDir's temporary files; the go command
// ignores files starting with a dot, and the next build removes any that a
// killed one left.
const tempPrefix = ".ptqc-tmp-"

// Generated reports whether the file at path starts with Header.
func Generated(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b := make([]byte, len(Header))
	if _, err := io.ReadFull(f, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return string(b) == Header, nil
}

// WriteOptions says how WriteDir shares the output directory with the user,
// whose files it never deletes, moves or overwrites.
type WriteOptions struct {
	// Force overwrites a file that has a generated file's name but that ptqc
	// did not generate (logged). Nothing else.
	Force bool
	// Inputs are the build's input files (description, weights, calibration
	// data, quantized model): never touched, Force or not.
	Inputs []string
	// Log receives a line per file Force overwrites; nil for none.
	Log io.Writer
}

// dirPlan is what writing a package into a directory does besides writing it.
type dirPlan struct {
	forced []string // user files Force overwrites
	stale  []string // files of an earlier build that this one does not write, sorted
	temps  []string // temporary files a killed build left
}

// CheckOutputDir returns the error WriteDir would return for writing files
// names of package pkg into dir (see WriteDir), without writing anything but
// a probe file: dir (or the directory WriteDir would create it in) must be
// writable, found before a build spends its calibration.
func CheckOutputDir(dir, pkg string, names []string, o WriteOptions) error {
	if _, err := planDir(dir, pkg, names, o); err != nil {
		return err
	}
	return checkWritable(dir)
}

// checkWritable creates and removes a file in dir, or in its nearest
// existing ancestor if dir does not exist yet.
func checkWritable(dir string) error {
	d := dir
	for {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is a file, not a directory", d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return err
		}
		d = parent
	}
	// Named like the temporary files, so that a build killed between the
	// create and the remove leaves a file the next build removes.
	f, err := os.CreateTemp(d, tempPrefix+"probe-*")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func planDir(dir, pkg string, names []string, o WriteOptions) (*dirPlan, error) {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return &dirPlan{}, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is a file, not a directory", dir)
	}
	var inputs []os.FileInfo
	for _, in := range o.Inputs {
		if in == "" {
			continue
		}
		if st, err := os.Stat(in); err == nil {
			inputs = append(inputs, st)
		}
	}
	isInput := func(st os.FileInfo) bool {
		return slices.ContainsFunc(inputs, func(in os.FileInfo) bool { return os.SameFile(in, st) })
	}
	var p dirPlan
	for _, name := range fileNames {
		path := filepath.Join(dir, name)
		lst, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		written := slices.Contains(names, name)
		if st, err := os.Stat(path); err == nil && isInput(st) {
			if written {
				return nil, fmt.Errorf("refusing to write %s: it is an input of this build (write the package elsewhere or move the input)", path)
			}
			continue
		}
		if !lst.Mode().IsRegular() {
			if written {
				return nil, fmt.Errorf("refusing to replace %s: it is not a regular file", path)
			}
			continue
		}
		gen, err := Generated(path)
		if err != nil {
			return nil, err
		}
		switch {
		case written && !gen && !o.Force:
			return nil, fmt.Errorf("refusing to overwrite %s: ptqc did not generate it (-force overwrites it)", path)
		case written && !gen:
			p.forced = append(p.forced, name)
		case !written && gen:
			p.stale = append(p.stale, name)
		}
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix) && e.Type().IsRegular():
			p.temps = append(p.temps, name)
		case slices.Contains(fileNames, name) || !strings.HasSuffix(name, ".go") || !e.Type().IsRegular():
		default:
			other, err := otherPackage(dir, name, pkg)
			if err != nil {
				return nil, err
			}
			if other != "" {
				return nil, fmt.Errorf("refusing to write package %s into %s: %s is package %s (is -o the module root? generate into a directory of its own)", pkg, dir, name, other)
			}
		}
	}
	return &p, nil
}

// otherPackage returns the package of dir's Go file name if it is built with
// the generated package pkg (its build constraints hold) and is not pkg nor
// pkg's external test package; "" otherwise.
func otherPackage(dir, name, pkg string) (string, error) {
	if ok, err := build.Default.MatchFile(dir, name); err != nil || !ok {
		return "", nil // excluded, or unreadable as Go: not a package to clash with
	}
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.PackageClauseOnly)
	if err != nil {
		return "", nil
	}
	if n := f.Name.Name; n != pkg && n != pkg+"_test" {
		return n, nil
	}
	return "", nil
}

// WriteDir writes the package into dir, a directory it shares with the user.
// Every file is written to a temporary file in dir (unnamed where the system
// allows) and renamed over its name once all are written, so a crash or a
// signal leaves each file old or new (files from two builds mixed are caught
// by the build id, see Generate); a guard process removes the temporary names
// if the build dies during the renames.
// Then it removes the files an earlier build generated that this one does not
// write, and temporary files a killed build left. It never deletes, moves or
// overwrites any other file: it refuses a file with a generated file's name
// that ptqc did not generate (unless o.Force) or that is one of o.Inputs, and
// a dir holding Go files of another package. When ctx ends before the renames
// start (an interrupt), it removes its temporary files and returns ctx's error.
func (p *Package) WriteDir(ctx context.Context, dir string, o WriteOptions) error {
	names := p.Names()
	for _, name := range names {
		if !slices.Contains(fileNames, name) {
			return fmt.Errorf("%s is not a file name ptqc writes", name)
		}
	}
	plan, err := planDir(dir, p.Name, names, o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range plan.forced {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "overwriting %s, which ptqc did not generate (-force)\n", filepath.Join(dir, name))
		}
	}
	tmps := make([]*tempFile, 0, len(names))
	defer func() {
		for _, t := range tmps {
			t.discard()
		}
	}()
	// Side by side: each write waits on its own fsync.
	ts := make([]*tempFile, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			if errs[i] = ctx.Err(); errs[i] == nil {
				ts[i], errs[i] = writeTemp(dir, p.Files[name])
			}
		})
	}
	wg.Wait()
	for i, t := range ts {
		if t != nil {
			tmps = append(tmps, t)
		}
		if errs[i] != nil && !errors.Is(errs[i], ctx.Err()) {
			return fmt.Errorf("writing %s: %w", filepath.Join(dir, names[i]), errs[i])
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// From here on ctx is ignored: stopping between renames would mix builds
	// for nothing, and the renames take no time.
	guarded := make([]string, len(tmps))
	for i, t := range tmps {
		guarded[i] = t.name
		if t.anon {
			t.link = tempName(dir)
			guarded[i] = t.link
		}
	}
	release := guard(guarded)
	defer release()
	for i, name := range names {
		if err := tmps[i].commit(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Join(dir, name), err)
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	// Stale files go in reverse name order: forward_amd64.go last, whose
	// declarations clash with model.go of a build without assembly, so that a
	// kill between two removals leaves a package that does not compile on
	// amd64 rather than one that does beside dead files (elsewhere
	// forward_other.go clashes, and it goes before the ignored _amd64 files).
	for _, name := range slices.Backward(plan.stale) {
		if err := removeStale(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, name := range plan.temps {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// removeStale removes a stale file (a variable for the test of their order).
var removeStale = os.Remove

// tempFile is a file's new contents on disk, not yet under its name: an
// unnamed file where the system has them (a kill then leaves nothing
// behind), else a file named tempPrefix...
type tempFile struct {
	f    *os.File
	anon bool   // f has no name
	name string // f's name, if it has one
	link string // the name an unnamed f is linked to before the rename
	data []byte
}

func writeTemp(dir string, b []byte) (*tempFile, error) {
	t := &tempFile{data: b}
	f, err := openAnon(dir)
	if err == nil {
		t.f, t.anon = f, true
	} else if t.f, t.name, err = createNamed(dir); err != nil {
		return nil, err
	}
	if _, err := t.f.Write(b); err != nil {
		t.discard()
		return nil, err
	}
	if err := t.f.Sync(); err != nil {
		t.discard()
		return nil, err
	}
	return t, nil
}

// createNamed creates an empty temporary file in dir, mode 0644 before the umask.
func createNamed(dir string) (*os.File, string, error) {
	for range 10 {
		name := tempName(dir)
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("no free temporary file name in %s", dir)
}

func tempName(dir string) string {
	var r [8]byte
	rand.Read(r[:])
	return filepath.Join(dir, tempPrefix+hex.EncodeToString(r[:]))
}

// commit puts the file under path, replacing what was there in one rename.
func (t *tempFile) commit(path string) error {
	if t.anon {
		// A rename cannot take an unnamed file: link it to a temporary name
		// first (the one moment a kill leaves a temporary file behind).
		err := linkRename(t.f, t.link, path)
		if err == nil || !errors.As(err, new(errLink)) {
			if err == nil {
				err = t.discard()
			}
			return err
		}
		// Not linkable here: write the bytes to a named file.
		f, name, err := createNamed(filepath.Dir(path))
		if err != nil {
			return err
		}
		t.f.Close()
		t.f, t.anon, t.name = f, false, name
		if _, err := f.Write(t.data); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := os.Rename(t.name, path); err != nil {
		return err
	}
	t.name = ""
	return t.discard()
}

// discard closes the file and removes its temporary name, if it has one.
func (t *tempFile) discard() error {
	var err error
	if t.f != nil {
		err = t.f.Close()
		t.f = nil
	}
	if t.name != "" {
		os.Remove(t.name)
		t.name = ""
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
