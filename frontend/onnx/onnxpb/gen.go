// Package onnxpb holds the Go types of ONNX's protobuf schema, generated from
// onnx-ml.proto of ONNX 1.12.0 as Debian 12 ships it (python3-onnx
// 1.12.0-2+b4, /usr/lib/python3/dist-packages/onnx/onnx-ml.proto, SHA-256
// 35f16c52c19ba1da72240a45609129a3cf685dc44b76777e0055271e8bde1d3e, copied here
// unchanged). onnx-ml.proto is onnx.proto plus TypeProto.Opaque, so it reads
// every file either writes.
//
// Regenerate with protoc 3.21.12 (Debian's protobuf-compiler 3.21.12-3+deb12u1)
// and protoc-gen-go v1.36.12 (go install
// google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12) on PATH:
//
//	go generate ./frontend/onnx/onnxpb
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx-ml.proto=github.com/ptqc/ptqc/frontend/onnx/onnxpb onnx-ml.proto
