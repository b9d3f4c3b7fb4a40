// Package generated holds the packages ptqc generates from testdata/ and their
// tests against the int8 reference interpreter. Only the bundled example,
// mobilenetv2_fmnist, is checked in. go generate makes the two 224x224 speed
// packages (ignored by git; minutes of CPU, 100+ MB of inputs); their tests
// and benchmarks carry the build tag ptqc224, and pins224.sha256 pins their
// bytes:
//
//	go generate ./generated && go test -tags ptqc224 ./generated
package generated

//go:generate go run github.com/ptqc/ptqc/cmd/ptqc build -model ../testdata/mobilenetv2_fmnist/model.json -qconfig fbgemm -calib ../testdata/mobilenetv2_fmnist/calib_images.npy -o mobilenetv2_fmnist -pkg mobilenetv2_fmnist

// The speed benchmark's model: ImageNet-shaped MobileNetV2 with synthetic weights
// and calibration inputs (tools/mnv2_224; the large inputs are not checked in).
//go:generate go run ../tools/mnv2_224 -o ../testdata/mobilenetv2_224
//go:generate go run github.com/ptqc/ptqc/cmd/ptqc build -model ../testdata/mobilenetv2_224/model.json -qconfig fbgemm -calib ../testdata/mobilenetv2_224/calib.npy -calib-limit 16 -o mobilenetv2_224 -pkg mobilenetv2_224

// The ResNet-50 speed model: torchvision's ResNet-50 at 224x224, synthetic
// weights and calibration inputs made the same way.
//go:generate go run ../tools/mnv2_224 -arch resnet50 -o ../testdata/resnet50_224
//go:generate go run github.com/ptqc/ptqc/cmd/ptqc build -model ../testdata/resnet50_224/model.json -qconfig fbgemm -calib ../testdata/resnet50_224/calib.npy -calib-limit 16 -o resnet50_224 -pkg resnet50_224
