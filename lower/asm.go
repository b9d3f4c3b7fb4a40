package lower

// Asm is a package's assembly, as asmgen makes it for codegen. Its kernels
// read the weights as pack.go packs them and the layouts of the Layers.
type Asm struct {
	// Files are added to the package as they are: the .s file and its Go
	// declarations, amd64 only by their names.
	Files map[string][]byte
	// Tiers are the runtime tier names the assembly implements, best last.
	Tiers []string
	// Layers says per layer what the assembly runs.
	Layers []AsmLayer
}

// AsmLayer is the assembly of one layer. Its calling convention follows
// from the layer's Kind:
//
//	Quantize            func(x *float32, y *byte, s0, s1 int)
//	Pointwise, Dense    func(x, w, y, t *byte, s0, s1, n0, n1 int)
//	Grouped             the same, called per column block b of GroupCols with
//	                    x at channel b*Span and the block's units [n0, n1);
//	                    where AllBlocks[tier], once for any range of blocks
//	                    (of one unit each) with x at channel 0
//	Depthwise           func(x, w, y *byte, s0, s1 int)
//	Add                 func(a, b, y *byte, s0, s1 int)
//	Mean                func(x, y *byte)
//	MaxPool             func(x, y *byte, s0, s1 int)
//	Table               func(x, w, y *byte, s0, s1 int)
//	Mul                 func(a, b, y *byte, s0, s1 int)
//	Concat              func(a *byte, s0, s1 int) (a: the arena; none when DirectAll)
//	AvgPool, WindowPool func(x, y *byte, s0, s1 int)
//	Slice, Shuffle      func(x, y *byte, s0, s1 int) (none for a View)
//
// Dequantize has none: its portable kernel runs on every tier.
type AsmLayer struct {
	Funcs map[string]string // tier -> kernel
	// A call computes units [s0, s1) of Units (rows or strips of pixels) and,
	// for a dense layer, column units [n0, n1) of Cols (a grouped layer's
	// Cols are its column blocks, GroupCols.Blocks).
	Units, Cols int
	// Scratch is the bytes a dense call needs at t.
	Scratch int
	// AllBlocks (Grouped) names the tiers whose kernel takes a range of
	// column blocks in one call.
	AllBlocks map[string]bool
	// Wide (Pointwise, Dense) is, per tier, a kernel of the same signature
	// to call instead of Funcs' where runtime.WideZMM: the zmm design of a
	// layer the tier otherwise runs on 256 bits.
	Wide map[string]string
}

// HasAsm says whether layers of kind k have assembly kernels.
func (k Kind) HasAsm() bool { return k != Dequantize }
