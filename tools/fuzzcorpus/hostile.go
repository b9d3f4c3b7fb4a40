package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"log"
	"strings"
)

// hostile writes one seed per class of issue 23's hostile files to the fuzz
// target of the reader it attacks, so that fuzzing starts on the sizes paths.
func hostile() {
	long1 := func(v int64) string {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		return "\x8a\x08" + string(b[:])
	}
	tensor := func(class string, numel, size int64) string {
		return "\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00w" +
			"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n" + class + "\n" +
			"X\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + long1(numel) + "tQK\x00" + long1(size) + "\x85K\x01\x85\x89h\x00)RtRu."
	}
	// Class 1: storage sizes that wrap around 2^64 to the 24 bytes present;
	// class 4: amplification through the memo and runs of EMPTY_DICT.
	wrap := tensor("FloatStorage", 1<<62+6, 6)
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, e := range [][2]string{{"data.pkl", wrap}, {"data/0", strings.Repeat("\x00", 24)}, {"version", "3\n"}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/" + e[0], Method: zip.Store})
		if err != nil {
			log.Fatal(err)
		}
		w.Write([]byte(e[1]))
	}
	zw.Close()
	appends := "\x80\x02]q\x00" + strings.Repeat("h\x00(K\x01K\x02e", 64) + "."
	write("frontend", "FuzzParsePth", []byte(wrap), []byte(tensor("LongStorage", 1<<61+3, 3)), zb.Bytes(),
		[]byte(appends), []byte("\x80\x02"+strings.Repeat("}", 512)+"."), []byte("\x80\x02N"+strings.Repeat("\x94", 512)+"."))

	// safetensors: a file of another format, a header length past the file,
	// a shape whose byte size wraps, offsets past the buffer.
	st := func(hdr string, data int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
		return append(append(b, hdr...), make([]byte, data)...)
	}
	write("frontend", "FuzzParseSafeTensors", zb.Bytes()[:64], []byte("\xff\xff\xff\xff\xff\xff\xff\xff{}"),
		st(`{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`, 0),
		st(`{"w":{"dtype":"I64","shape":[2305843009213693955],"data_offsets":[0,24]}}`, 24),
		st(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,0]}}`, 4))

	// Class 6: descriptions asking for unbounded work.
	rows := strings.TrimSuffix(strings.Repeat("[1, 16, 1048576, 1], ", 70), ", ")
	write("frontend", "FuzzParseDescription",
		[]byte(`{"arch": "mobilenetv2", "inverted_residual_setting": [`+rows+`]}`),
		[]byte(`{"arch": "mobilenetv2", "input": [3, 16384, 16384], "preprocess": {}}`),
		[]byte(`{"arch": "mobilenetv2", "num_classes": 1000000000000000}`),
		[]byte(`{"arch": "resnet", "block": "basic", "layers": [1000, 1000, 1000, 1000]}`))

	// .npy and IDX: shapes whose byte size overflows or passes the data.
	npy := func(dict string, data int) []byte {
		h := dict + strings.Repeat(" ", 63-(10+len(dict))%64) + "\n"
		b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
		return append(append(b, h...), make([]byte, data)...)
	}
	write("calibrate/data", "FuzzParseNpy",
		npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 16),
		npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2305843009213693955,), }", 24),
		npy("{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536, 65536), }", 0))
	idx := []byte{0, 0, 8, 4}
	for range 4 {
		idx = append(idx, 0x7f, 0xff, 0xff, 0xff)
	}
	write("calibrate/data", "FuzzParseIDX", append(idx, 1, 2, 3, 4))

	// Images: a PNG whose header claims 65536 x 65536 pixels.
	var p bytes.Buffer
	if err := png.Encode(&p, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		log.Fatal(err)
	}
	big := p.Bytes()
	copy(big[16:24], []byte{0, 1, 0, 0, 0, 1, 0, 0}) // IHDR width, height
	binary.BigEndian.PutUint32(big[29:33], crc32.ChecksumIEEE(big[12:29]))
	write("calibrate/data", "FuzzDecodeImage", big)
	fmt.Println("hostile seeds written")
}
