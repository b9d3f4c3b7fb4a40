// Package frontend reads a model's inputs: the description file (JSON) and the
// weight files (torch.save .pth archives and safetensors), and binds the weights
// to the graph ir builds from the description. Every reader of a model input
// lives here, beside the others; ir holds the graph and knows no file format.
package frontend
