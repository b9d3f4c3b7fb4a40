package frontend

// Reader for the files torch.save writes since PyTorch 1.6: a zip archive
// (entries stored, not compressed) holding <name>/data.pkl, a pickle of the
// state_dict in which every tensor's storage is a persistent id naming the
// entry <name>/data/<key>, plus <name>/version and, in newer files,
// <name>/byteorder.
//
// The pickle is read by a small restricted unpickler of our own, in the
// spirit of torch.load(weights_only=True): it knows only the opcodes and
// globals that a state_dict of tensors needs, and it never calls anything;
// REDUCE on an allowed global builds a Go value. Anything else is an error
// naming the opcode or the global.

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/ptqc/ptqc/internal/safesize"
)

// pthStorages maps the typed storage classes to safetensors dtypes; the ones
// mapped to "" are recognised (so the error names the dtype) but not read.
var pthStorages = map[string]string{
	"FloatStorage":    "F32",
	"HalfStorage":     "F16",
	"BFloat16Storage": "BF16",
	"LongStorage":     "I64",
	"DoubleStorage":   "",
	"IntStorage":      "",
	"ShortStorage":    "",
	"CharStorage":     "",
	"ByteStorage":     "",
	"BoolStorage":     "",
}

// pthGlobal is an allowed global, resolved by name; it is never called.
type pthGlobal struct{ module, name string }

func (g pthGlobal) String() string { return g.module + "." + g.name }

// pthMark is the MARK opcode's stack sentinel.
type pthMark struct{}

// pthTuple is a Python tuple.
type pthTuple []any

// pthList is a Python list. Like a dict it is shared by reference, as in
// Python: the memo and the stack hold the same list, and APPENDS grows it in
// place instead of copying it.
type pthList struct{ items []any }

// pthDict is a dict or OrderedDict with string keys, in insertion order.
type pthDict struct {
	ordered  bool
	keys     []string
	vals     map[string]any // made by the first set: an empty dict costs no map
	metadata bool           // BUILD set its _metadata attribute
}

func newPthDict(ordered bool) *pthDict {
	return &pthDict{ordered: ordered}
}

func (d *pthDict) set(k, v any) error {
	s, ok := k.(string)
	if !ok {
		return fmt.Errorf("dict key %s is not a string", pthDescribe(k))
	}
	if d.vals == nil {
		d.vals = map[string]any{}
	}
	if _, dup := d.vals[s]; !dup {
		d.keys = append(d.keys, s)
	}
	d.vals[s] = v
	return nil
}

// pthStorage is a storage named by a persistent id.
type pthStorage struct {
	class string // e.g. "FloatStorage"
	key   string // entry name under data/
	numel int
}

// pthTensor is the result of _rebuild_tensor_v2 or _rebuild_parameter.
type pthTensor struct {
	storage      *pthStorage
	offset       int
	size, stride []int
}

// pthDescribe names a Python value's type for error messages.
func pthDescribe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int:
		return "int"
	case float64:
		return "float"
	case string:
		return fmt.Sprintf("str %q", safesize.Name(v))
	case []byte:
		return "bytes"
	case pthTuple:
		return fmt.Sprintf("tuple of %d", len(v))
	case *pthList:
		return fmt.Sprintf("list of %d", len(v.items))
	case *pthDict:
		if v.ordered {
			return "OrderedDict"
		}
		return "dict"
	case pthGlobal:
		return "global " + safesize.Name(v.String())
	case *pthStorage:
		return "storage " + v.class
	case *pthTensor:
		return "tensor"
	case pthMark:
		return "MARK"
	}
	return fmt.Sprintf("%T", v)
}

// pthAllowed reports whether module.name is a global a state_dict may name.
func pthAllowed(module, name string) bool {
	switch module {
	case "collections":
		return name == "OrderedDict"
	case "torch._utils":
		return name == "_rebuild_tensor_v2" || name == "_rebuild_parameter"
	case "torch":
		_, ok := pthStorages[name]
		return ok
	}
	return false
}

// pthUnpickler holds the state of one restricted unpickling.
type pthUnpickler struct {
	b        []byte
	pos      int
	stack    []any
	marks    []int
	memo     map[int]any
	storages map[string]*pthStorage

	// cost estimates the bytes of Go memory the pickle has made us build
	// (stack slots, containers, their items, memo entries, strings); a
	// pickle whose cost passes budget is refused. Each opcode byte builds
	// at most a few small objects, so a state_dict stays far below it, but
	// runs of one-byte opcodes that each build a container (EMPTY_DICT,
	// MEMOIZE) would otherwise cost a hundred times their size.
	cost, budget int
	objects      int
}

// pthBudget is the memory an unpickling may build: pthBytesPerByte per byte
// of pickle plus a floor for small pickles. A torch.save state_dict builds
// 18 to 30 bytes per byte (TestPthBudgetHeadroom).
func pthBudget(n int) int {
	if n > (math.MaxInt-pthBudgetFloor)/pthBytesPerByte {
		return math.MaxInt
	}
	return pthBudgetFloor + pthBytesPerByte*n
}

const (
	pthBytesPerByte = 64
	pthBudgetFloor  = 1 << 20
)

// spend charges n bytes of built memory for one object.
func (u *pthUnpickler) spend(n int) error {
	u.objects++
	u.cost += n
	if u.cost > u.budget {
		return fmt.Errorf("the %d-byte pickle builds %d objects (about %d bytes of memory), more than a state_dict of its size can: refused", len(u.b), u.objects, u.cost)
	}
	return nil
}

// Costs of what the unpickler builds, in bytes (Go's sizes on 64-bit).
const (
	costSlot    = 16 // an interface value on the stack or in a container
	costDict    = 64 // pthDict without its map
	costEntry   = 96 // a map entry with its key header, and the map's growth
	costList    = 48 // pthList and its slice header
	costTuple   = 24 // a slice header boxed in an interface
	costString  = 16 // string header; the bytes are added
	costMemo    = 96 // a memo map entry, and the map's growth
	costStorage = 64 // pthStorage
	costTensor  = 96 // pthTensor without its size and stride
)

func (u *pthUnpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.b)-u.pos {
		return nil, fmt.Errorf("truncated at byte %d (needs %d more)", u.pos, n)
	}
	s := u.b[u.pos : u.pos+n]
	u.pos += n
	return s, nil
}

func (u *pthUnpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.b[u.pos:], '\n')
	if i < 0 {
		return "", fmt.Errorf("truncated at byte %d (unterminated line)", u.pos)
	}
	s := string(u.b[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *pthUnpickler) uint(n int) (uint64, error) {
	s, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	return v, nil
}

func (u *pthUnpickler) push(v any) error {
	u.stack = append(u.stack, v)
	return u.spend(costSlot)
}

// pushOr pushes v, the result of an operation, unless that failed.
func (u *pthUnpickler) pushOr(v any, err error) error {
	if err != nil {
		return err
	}
	return u.push(v)
}

func (u *pthUnpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

// popN pops n values, returned in stack order (the deepest first).
func (u *pthUnpickler) popN(n int) ([]any, error) {
	items := make([]any, n)
	for i := n - 1; i >= 0; i-- {
		v, err := u.pop()
		if err != nil {
			return nil, err
		}
		items[i] = v
	}
	return items, nil
}

// pushNew charges cost for a new object, then pushes it.
func (u *pthUnpickler) pushNew(cost int, v any) error {
	if err := u.spend(cost); err != nil {
		return err
	}
	return u.push(v)
}

func (u *pthUnpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// withTop returns the values just popped (items, or popping's error) and
// the top of the stack below them: the object they go into.
func (u *pthUnpickler) withTop(items []any, err error) ([]any, any, error) {
	if err != nil {
		return nil, nil, err
	}
	t, err := u.top()
	if err != nil {
		return nil, nil, err
	}
	return items, t, nil
}

// popMark pops everything above the last MARK.
func (u *pthUnpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

// pthOpNames names every pickle opcode (Python's pickletools), for error
// messages.
var pthOpNames = map[byte]string{
	'I': "INT", 'L': "LONG", 'S': "STRING", 'T': "BINSTRING", 'U': "SHORT_BINSTRING",
	'V': "UNICODE", 'F': "FLOAT", 'P': "PERSID", 'a': "APPEND", 'p': "PUT", 'g': "GET",
	'i': "INST", 'o': "OBJ", 'b': "BUILD", '0': "POP", '1': "POP_MARK", '2': "DUP",
	'l': "LIST", 'd': "DICT", '\x81': "NEWOBJ", '\x92': "NEWOBJ_EX", '\x82': "EXT1",
	'\x83': "EXT2", '\x84': "EXT4", '\x8b': "LONG4", '\x8e': "BINBYTES8", '\x8f': "EMPTY_SET",
	'\x90': "ADDITEMS", '\x91': "FROZENSET", '\x96': "BYTEARRAY8", '\x97': "NEXT_BUFFER",
	'\x98': "READONLY_BUFFER", 'B': "BINBYTES", 'C': "SHORT_BINBYTES",
	'\x80': "PROTO", '\x95': "FRAME", '.': "STOP", '(': "MARK", 'N': "NONE", '\x88': "NEWTRUE",
	'\x89': "NEWFALSE", 'J': "BININT", 'K': "BININT1", 'M': "BININT2", '\x8a': "LONG1",
	'G': "BINFLOAT", 'X': "BINUNICODE", '\x8c': "SHORT_BINUNICODE", '\x8d': "BINUNICODE8",
	')': "EMPTY_TUPLE", ']': "EMPTY_LIST", '}': "EMPTY_DICT", 't': "TUPLE", '\x85': "TUPLE1",
	'\x86': "TUPLE2", '\x87': "TUPLE3", 'e': "APPENDS", 's': "SETITEM", 'u': "SETITEMS",
	'q': "BINPUT", 'r': "LONG_BINPUT", '\x94': "MEMOIZE", 'h': "BINGET", 'j': "LONG_BINGET",
	'c': "GLOBAL", '\x93': "STACK_GLOBAL", 'Q': "BINPERSID", 'R': "REDUCE",
}

// run unpickles u.b and returns the top-level value.
func (u *pthUnpickler) run() (any, error) {
	for {
		at := u.pos
		opb, err := u.read(1)
		if err != nil {
			return nil, errors.New("truncated: no STOP opcode")
		}
		op := opb[0]
		if err := u.step(op); err != nil {
			if err == io.EOF {
				if len(u.stack) != 1 || len(u.marks) != 0 {
					return nil, fmt.Errorf("STOP at byte %d with %d values and %d marks on the stack", at, len(u.stack), len(u.marks))
				}
				return u.stack[0], nil
			}
			name, ok := pthOpNames[op]
			if !ok {
				name = fmt.Sprintf("0x%02x", op)
			}
			return nil, fmt.Errorf("opcode %s at byte %d: %w", name, at, err)
		}
	}
}

// step executes one opcode; io.EOF means STOP.
func (u *pthUnpickler) step(op byte) error {
	switch op {
	case '\x80': // PROTO
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		if v < 2 || v > 5 {
			return fmt.Errorf("pickle protocol %d is not supported (2 to 5)", v)
		}
	case '\x95': // FRAME: a length hint only
		_, err := u.uint(8)
		return err
	case '.': // STOP
		return io.EOF
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case 'N':
		return u.push(nil)
	case '\x88':
		return u.push(true)
	case '\x89':
		return u.push(false)
	case 'J', 'K', 'M': // BININT, BININT1, BININT2
		n := map[byte]int{'J': 4, 'K': 1, 'M': 2}[op]
		v, err := u.uint(n)
		if err != nil {
			return err
		}
		if op == 'J' {
			return u.push(int(int32(uint32(v))))
		}
		return u.push(int(v))
	case '\x8a': // LONG1
		n, err := u.uint(1)
		if err != nil {
			return err
		}
		s, err := u.read(int(n))
		if err != nil {
			return err
		}
		return u.pushOr(pthLong(s))
	case 'G': // BINFLOAT
		v, err := u.read(8)
		if err != nil {
			return err
		}
		return u.push(math.Float64frombits(binary.BigEndian.Uint64(v)))
	case 'X', '\x8c', '\x8d': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
		n, err := u.uint(map[byte]int{'X': 4, '\x8c': 1, '\x8d': 8}[op])
		if err != nil {
			return err
		}
		if n > uint64(len(u.b)) {
			return fmt.Errorf("string of %d bytes is longer than the pickle", n)
		}
		s, err := u.read(int(n))
		if err != nil {
			return err
		}
		return u.pushNew(costString+len(s), string(s))
	case ')':
		return u.pushNew(costTuple, pthTuple{})
	case ']':
		return u.pushNew(costList, &pthList{})
	case '}':
		return u.pushNew(costDict, newPthDict(false))
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.pushNew(costTuple+costSlot*len(items), pthTuple(items))
	case '\x85', '\x86', '\x87': // TUPLE1..3
		items, err := u.popN(int(op-'\x85') + 1)
		if err != nil {
			return err
		}
		return u.pushNew(costTuple+costSlot*len(items), pthTuple(items))
	case 'e': // APPENDS
		items, t, err := u.withTop(u.popMark())
		if err != nil {
			return err
		}
		l, ok := t.(*pthList)
		if !ok {
			return fmt.Errorf("appending to %s, not a list", pthDescribe(t))
		}
		if err := u.spend(costSlot * len(items)); err != nil {
			return err
		}
		l.items = append(l.items, items...)
	case 's', 'u': // SETITEM, SETITEMS
		var items []any
		var err error
		if op == 's' {
			items, err = u.popN(2)
		} else if items, err = u.popMark(); err == nil && len(items)%2 != 0 {
			err = fmt.Errorf("odd number of items (%d)", len(items))
		}
		items, t, err := u.withTop(items, err)
		if err != nil {
			return err
		}
		d, ok := t.(*pthDict)
		if !ok {
			return fmt.Errorf("setting items of %s, not a dict", pthDescribe(t))
		}
		if err := u.spend(costEntry * len(items) / 2); err != nil {
			return err
		}
		for i := 0; i < len(items); i += 2 {
			if err := d.set(items[i], items[i+1]); err != nil {
				return err
			}
		}
	case 'q', 'r', '\x94': // BINPUT, LONG_BINPUT, MEMOIZE
		var idx uint64
		var err error
		switch op {
		case 'q':
			idx, err = u.uint(1)
		case 'r':
			idx, err = u.uint(4)
		default:
			idx = uint64(len(u.memo))
		}
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		if err := u.spend(costMemo); err != nil {
			return err
		}
		u.memo[int(idx)] = t
	case 'h', 'j': // BINGET, LONG_BINGET
		idx, err := u.uint(map[byte]int{'h': 1, 'j': 4}[op])
		if err != nil {
			return err
		}
		v, ok := u.memo[int(idx)]
		if !ok {
			return fmt.Errorf("memo entry %d is not set", idx)
		}
		return u.push(v)
	case 'c': // GLOBAL
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		return u.global(module, name)
	case '\x93': // STACK_GLOBAL
		ops, err := u.popN(2)
		if err != nil {
			return err
		}
		mv, nv := ops[0], ops[1]
		module, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("operands are %s and %s, not strings", pthDescribe(mv), pthDescribe(nv))
		}
		return u.global(module, name)
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		return u.pushOr(u.persistent(pid))
	case 'R': // REDUCE
		ops, err := u.popN(2)
		if err != nil {
			return err
		}
		return u.pushOr(u.reduce(ops[0], ops[1]))
	case 'b': // BUILD: only a state_dict's _metadata attribute
		st, t, err := u.withTop(u.popN(1))
		if err != nil {
			return err
		}
		state := st[0]
		d, ok := t.(*pthDict)
		sd, ok2 := state.(*pthDict)
		if !ok || !d.ordered || !ok2 || len(sd.keys) != 1 || sd.keys[0] != "_metadata" {
			return fmt.Errorf("BUILD of %s with %s: only an OrderedDict's _metadata attribute is allowed", pthDescribe(t), pthDescribe(state))
		}
		d.metadata = true
	default:
		return errors.New("not allowed in a state_dict")
	}
	return nil
}

// pthLong decodes LONG1's little-endian two's complement bytes.
func pthLong(s []byte) (int, error) {
	if len(s) == 0 {
		return 0, nil
	}
	be := make([]byte, len(s))
	for i, c := range s {
		be[len(s)-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if s[len(s)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(s))))
	}
	if !v.IsInt64() || v.Int64() > math.MaxInt || v.Int64() < math.MinInt {
		return 0, fmt.Errorf("integer %v does not fit in an int", v)
	}
	return int(v.Int64()), nil
}

func (u *pthUnpickler) global(module, name string) error {
	if !pthAllowed(module, name) {
		hint := ""
		if module == "__main__" || strings.HasPrefix(module, "torch.nn") || strings.HasPrefix(module, "torchvision") {
			hint = " (the file holds a pickled module, not a state_dict: save model.state_dict())"
		}
		return fmt.Errorf("global %s is not allowed in a state_dict%s", safesize.Name(module+"."+name), hint)
	}
	if err := u.spend(costString*2 + len(module) + len(name)); err != nil {
		return err
	}
	return u.push(pthGlobal{module, name})
}

// persistent resolves ('storage', torch.XStorage, key, location, numel).
func (u *pthUnpickler) persistent(pid any) (*pthStorage, error) {
	t, ok := pid.(pthTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %s is not ('storage', class, key, location, numel)", pthDescribe(pid))
	}
	g, ok1 := t[1].(pthGlobal)
	key, ok2 := t[2].(string)
	_, ok3 := t[3].(string)
	numel, ok4 := t[4].(int)
	if !ok1 || g.module != "torch" || !ok2 || !ok3 || !ok4 {
		return nil, fmt.Errorf("persistent id (%s, %s, %s, %s) is not (storage class, key, location, numel)",
			pthDescribe(t[1]), pthDescribe(t[2]), pthDescribe(t[3]), pthDescribe(t[4]))
	}
	if numel < 0 {
		return nil, fmt.Errorf("storage %q has negative size %d", safesize.Name(key), numel)
	}
	if s, ok := u.storages[key]; ok {
		if s.class != g.name || s.numel != numel {
			return nil, fmt.Errorf("storage %q is named twice with different types (%s of %d, %s of %d)", safesize.Name(key), s.class, s.numel, g.name, numel)
		}
		return s, nil
	}
	if err := u.spend(costStorage + costEntry); err != nil {
		return nil, err
	}
	s := &pthStorage{class: g.name, key: key, numel: numel}
	u.storages[key] = s
	return s, nil
}

func pthInts(v any, what string) ([]int, error) {
	t, ok := v.(pthTuple)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not a tuple", what, pthDescribe(v))
	}
	out := make([]int, len(t))
	for i, e := range t {
		n, ok := e.(int)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%s element %d is %v, not a non-negative int", what, i, e)
		}
		out[i] = n
	}
	return out, nil
}

// pthNoHooks checks that backward_hooks is an empty OrderedDict.
func pthNoHooks(v any) error {
	d, ok := v.(*pthDict)
	if !ok || !d.ordered || len(d.keys) != 0 || d.metadata {
		return fmt.Errorf("backward_hooks is %s, not an empty OrderedDict", pthDescribe(v))
	}
	return nil
}

func (u *pthUnpickler) reduce(fn, argv any) (any, error) {
	g, ok := fn.(pthGlobal)
	if !ok {
		return nil, fmt.Errorf("calling %s", pthDescribe(fn))
	}
	args, ok := argv.(pthTuple)
	if !ok {
		return nil, fmt.Errorf("%s called with %s, not a tuple", g, pthDescribe(argv))
	}
	switch g.name {
	case "OrderedDict":
		if len(args) != 0 {
			return nil, fmt.Errorf("%s called with %d arguments, want none", g, len(args))
		}
		if err := u.spend(costDict); err != nil {
			return nil, err
		}
		return newPthDict(true), nil
	case "_rebuild_tensor_v2":
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(args) != 6 && len(args) != 7 {
			return nil, fmt.Errorf("%s called with %d arguments, want 6 or 7", g, len(args))
		}
		s, ok := args[0].(*pthStorage)
		if !ok {
			return nil, fmt.Errorf("%s: storage is %s", g, pthDescribe(args[0]))
		}
		off, ok := args[1].(int)
		if !ok || off < 0 {
			return nil, fmt.Errorf("%s: storage offset %v is not a non-negative int", g, args[1])
		}
		size, err := pthInts(args[2], "size")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		stride, err := pthInts(args[3], "stride")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		if len(size) != len(stride) {
			return nil, fmt.Errorf("%s: size %v and stride %v differ in rank", g, size, stride)
		}
		if _, ok := args[4].(bool); !ok {
			return nil, fmt.Errorf("%s: requires_grad is %s", g, pthDescribe(args[4]))
		}
		if err := pthNoHooks(args[5]); err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		if len(args) == 7 {
			if d, ok := args[6].(*pthDict); !ok || len(d.keys) != 0 {
				return nil, fmt.Errorf("%s: tensor metadata %s is not empty", g, pthDescribe(args[6]))
			}
		}
		if err := u.spend(costTensor + 16*len(size)); err != nil {
			return nil, err
		}
		return &pthTensor{storage: s, offset: off, size: size, stride: stride}, nil
	case "_rebuild_parameter":
		// (data, requires_grad, backward_hooks)
		if len(args) != 3 {
			return nil, fmt.Errorf("%s called with %d arguments, want 3", g, len(args))
		}
		t, ok := args[0].(*pthTensor)
		if !ok {
			return nil, fmt.Errorf("%s: data is %s, not a tensor", g, pthDescribe(args[0]))
		}
		if _, ok := args[1].(bool); !ok {
			return nil, fmt.Errorf("%s: requires_grad is %s", g, pthDescribe(args[1]))
		}
		if err := pthNoHooks(args[2]); err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("calling %s", g)
}

// pthLegacyMagic starts a pre-1.6 torch.save file: PROTO 2 then LONG1 of
// the magic number 0x1950a86a20f9469cfc6c.
var pthLegacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// ReadPth reads a torch.save state_dict file (see ParsePth).
func ReadPth(path string) (*SafeTensors, error) {
	b, err := safesize.ReadFile(path, 0, pthHeadLen, func(head []byte, _ int64) error { return pthCheckHead(path, head) })
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	return ParsePth(path, b)
}

// pthHeadLen is how much of a file pthCheckHead needs (a tar header's magic
// is at 257).
const pthHeadLen = 512

// pthCheckHead refuses a file that is not a torch.save zip archive from its
// first bytes, before the rest is read.
func pthCheckHead(name string, head []byte) error {
	if err := pthFormatError(head); err != nil {
		return fmt.Errorf("weights %s: %w", name, err)
	}
	return nil
}

// pthFormatError says why b, the start of a file, is no torch.save zip archive.
func pthFormatError(b []byte) error {
	switch {
	case bytes.HasPrefix(b, pthLegacyMagic):
		return errors.New("legacy (before PyTorch 1.6) torch.save format is not supported: re-save it with a newer torch.save")
	case len(b) >= 262 && string(b[257:262]) == "ustar":
		return errors.New("legacy tar torch.save format is not supported: re-save it with a newer torch.save")
	case !bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return errors.New("not a torch.save zip archive (no zip signature)")
	}
	return nil
}

// ParsePth reads the state_dict that torch.save wrote into b (a zip archive)
// and returns its tensors as contiguous little-endian safetensors tensors,
// keyed as in the state_dict. name is only used in error messages.
func ParsePth(name string, b []byte) (*SafeTensors, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("weights %s: %s", name, fmt.Sprintf(format, args...))
	}
	if err := pthFormatError(b); err != nil {
		return nil, fail("%v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fail("zip archive: %v", err)
	}
	// The archive's entries all sit under one directory, named after the file
	// by old versions and "archive" by newer ones.
	prefix := ""
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		i := strings.IndexByte(f.Name, '/')
		if i <= 0 {
			return nil, fail("zip entry %q is not inside the archive's directory", safesize.Name(f.Name))
		}
		if prefix == "" {
			prefix = f.Name[:i+1]
		} else if f.Name[:i+1] != prefix {
			return nil, fail("zip entries %q and %q are in different directories", safesize.Name(prefix), safesize.Name(f.Name))
		}
		if _, dup := entries[f.Name[i+1:]]; dup {
			return nil, fail("zip entry %q appears twice", safesize.Name(f.Name))
		}
		entries[f.Name[i+1:]] = f
	}
	readEntry := func(rel string) ([]byte, bool, error) {
		f, ok := entries[rel]
		if !ok {
			return nil, false, nil
		}
		if f.Method != zip.Store {
			return nil, true, fail("zip entry %q is compressed (method %d); torch.save stores entries uncompressed", safesize.Name(f.Name), f.Method)
		}
		if f.UncompressedSize64 > uint64(len(b)) {
			return nil, true, fail("zip entry %q claims %d bytes, more than the file's %d", safesize.Name(f.Name), f.UncompressedSize64, len(b))
		}
		rc, err := f.Open()
		if err != nil {
			return nil, true, fail("zip entry %q: %v", safesize.Name(f.Name), err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			return nil, true, fail("zip entry %q: %v", safesize.Name(f.Name), err)
		}
		return data, true, nil
	}

	version, ok, err := readEntry("version")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fail("zip archive has no %sversion entry: not a torch.save file", safesize.Name(prefix))
	}
	if v, err := strconv.Atoi(strings.TrimSpace(string(version))); err != nil || v < 1 {
		return nil, fail("%sversion is %q, not a positive integer", safesize.Name(prefix), safesize.Name(string(version)))
	}
	if bo, ok, err := readEntry("byteorder"); err != nil {
		return nil, err
	} else if ok && string(bo) != "little" {
		return nil, fail("%sbyteorder is %q; only little-endian files are supported", safesize.Name(prefix), safesize.Name(string(bo)))
	}
	pkl, ok, err := readEntry("data.pkl")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fail("zip archive has no %sdata.pkl entry: not a torch.save file", safesize.Name(prefix))
	}
	u := &pthUnpickler{b: pkl, memo: map[int]any{}, storages: map[string]*pthStorage{}, budget: pthBudget(len(pkl))}
	top, err := u.run()
	if err != nil {
		return nil, fail("%sdata.pkl: %v", safesize.Name(prefix), err)
	}
	sd, ok := top.(*pthDict)
	if !ok {
		return nil, fail("%sdata.pkl holds %s, not a state_dict", safesize.Name(prefix), pthDescribe(top))
	}

	st := &SafeTensors{Path: name, Metadata: map[string]string{}, Tensors: make(map[string]*SafeTensor, len(sd.keys))}
	data := map[string][]byte{}
	for _, key := range sd.keys {
		t, ok := sd.vals[key].(*pthTensor)
		if !ok {
			return nil, fail("key %q holds %s, not a tensor", safesize.Name(key), pthDescribe(sd.vals[key]))
		}
		s := t.storage
		dtype := pthStorages[s.class]
		if dtype == "" {
			return nil, fail("key %q: %s is not supported (Float, Half, BFloat16 and Long storages are)", safesize.Name(key), s.class)
		}
		size := stDTypeSizes[dtype]
		raw, ok := data[s.key]
		if !ok {
			var found bool
			if raw, found, err = readEntry("data/" + s.key); err != nil {
				return nil, err
			}
			if !found {
				return nil, fail("key %q: storage entry %sdata/%s is missing", safesize.Name(key), safesize.Name(prefix), safesize.Name(s.key))
			}
			// numel comes from the pickle: its byte size is checked without
			// overflow (a count that wraps around 2^64 to the entry's size
			// would otherwise pass and read zeros).
			if want, ok := safesize.Mul(s.numel, size); !ok || want != len(raw) {
				need := fmt.Sprint(want)
				if !ok {
					need = "more than 2^63"
				}
				return nil, fail("key %q: storage %sdata/%s has %d bytes, but %s of %d elements needs %s", safesize.Name(key), safesize.Name(prefix), safesize.Name(s.key), len(raw), s.class, s.numel, need)
			}
			data[s.key] = raw
		}
		out, err := pthGather(raw, size, t)
		if err != nil {
			return nil, fail("key %q: %v", safesize.Name(key), err)
		}
		st.Tensors[key] = &SafeTensor{Name: key, DType: dtype, Shape: t.size, Data: out}
	}
	return st, nil
}

// pthGather copies the elements of t, which may be a strided view at an
// offset into its storage, into a contiguous row-major buffer.
func pthGather(raw []byte, size int, t *pthTensor) ([]byte, error) {
	numel := t.storage.numel
	n, err := safesize.Elements(t.size, numel)
	if err != nil {
		// Only an expanded view (a stride of 0) has more elements than its
		// storage; state_dicts hold none, and the bound keeps memory in check.
		return nil, fmt.Errorf("size %v: %v (storage %s has %d elements)", t.size, err, t.storage.key, numel)
	}
	out := make([]byte, n*size)
	if n == 0 {
		return out, nil
	}
	last := t.offset
	for i, d := range t.size {
		if s := t.stride[i]; s > 0 && d-1 > (numel-last)/s {
			return nil, fmt.Errorf("size %v, stride %v at offset %d reach past the %d elements of storage %s", t.size, t.stride, t.offset, numel, t.storage.key)
		}
		last += (d - 1) * t.stride[i]
	}
	if last >= numel {
		return nil, fmt.Errorf("size %v, stride %v at offset %d reach past the %d elements of storage %s", t.size, t.stride, t.offset, numel, t.storage.key)
	}
	if pthContiguous(t.size, t.stride) {
		copy(out, raw[t.offset*size:])
		return out, nil
	}
	idx := make([]int, len(t.size))
	for o := 0; o < n; o++ {
		src := t.offset
		for i, v := range idx {
			src += v * t.stride[i]
		}
		copy(out[o*size:(o+1)*size], raw[src*size:(src+1)*size])
		for i := len(idx) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < t.size[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

// pthContiguous reports whether stride is the row-major stride of size
// (dimensions of 1 may have any stride).
func pthContiguous(size, stride []int) bool {
	want := 1
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] != 1 && stride[i] != want {
			return false
		}
		want *= size[i]
	}
	return true
}
