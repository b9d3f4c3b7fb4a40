/* jpeg_raw FILE prints the component planes that libjpeg-turbo's IDCT produces for a JPEG
 * (raw_data_out: no upsampling, no color conversion), cropped to each component's
 * downsampled size: a little-endian uint32 count, then per component uint32 width,
 * uint32 height and the samples row by row. jpeg_goldens.py builds and runs it, so
 * that the Go tests can check upsampling and color conversion apart from the IDCT.
 *
 * jpeg_raw enc W H QUALITY HY VY HC VC PROGRESSIVE RESTART SPACE < pixels > out.jpg
 * encodes W x H pixels (RGB, or CMYK for SPACE ycck) with the sampling factors HY x VY
 * for the first component (and K) and HC x VC for the others, a restart marker every
 * RESTART MCUs (0: none), as YCbCr (ycc), RGB (rgb, Adobe transform 0) or YCCK
 * (ycck): files Pillow cannot write (4:4:0, 4:1:1, 4:1:0, restarts, RGB, YCCK).
 * Build: cc -O2 -o jpeg_raw jpeg_raw.c -ljpeg */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <jpeglib.h>

static void put32(uint32_t v) {
  unsigned char b[4] = {v, v >> 8, v >> 16, v >> 24};
  fwrite(b, 1, 4, stdout);
}

static int encode(char **a) {
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  int w = atoi(a[0]), h = atoi(a[1]), y;
  int ycck = strcmp(a[9], "ycck") == 0, nc = ycck ? 4 : 3;
  unsigned char *pix = malloc((size_t)w * h * nc);
  if (fread(pix, nc, (size_t)w * h, stdin) != (size_t)w * h) {
    fprintf(stderr, "jpeg_raw enc: short input\n");
    return 1;
  }
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, stdout);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = nc;
  cinfo.in_color_space = ycck ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  if (ycck)
    jpeg_set_colorspace(&cinfo, JCS_YCCK);
  else if (strcmp(a[9], "rgb") == 0)
    jpeg_set_colorspace(&cinfo, JCS_RGB);
  cinfo.restart_interval = atoi(a[8]);
  jpeg_set_quality(&cinfo, atoi(a[2]), TRUE);
  cinfo.comp_info[0].h_samp_factor = atoi(a[3]);
  cinfo.comp_info[0].v_samp_factor = atoi(a[4]);
  for (y = 1; y < 3; y++) {
    cinfo.comp_info[y].h_samp_factor = atoi(a[5]);
    cinfo.comp_info[y].v_samp_factor = atoi(a[6]);
  }
  if (ycck) {
    cinfo.comp_info[3].h_samp_factor = atoi(a[3]);
    cinfo.comp_info[3].v_samp_factor = atoi(a[4]);
  }
  if (atoi(a[7]))
    jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  for (y = 0; y < h; y++) {
    JSAMPROW row = pix + (size_t)y * w * nc;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return 0;
}

int main(int argc, char **argv) {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr jerr;
  FILE *f;
  int ci, r;
  JSAMPARRAY planes[MAX_COMPONENTS];
  unsigned char *out[MAX_COMPONENTS];
  if (argc == 12 && strcmp(argv[1], "enc") == 0)
    return encode(argv + 2);
  if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
    fprintf(stderr, "usage: jpeg_raw file.jpg | jpeg_raw enc W H QUALITY HY VY HC VC PROGRESSIVE RESTART SPACE\n");
    return 2;
  }
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.raw_data_out = TRUE;
  jpeg_start_decompress(&cinfo);
  int rows = cinfo.max_v_samp_factor * DCTSIZE;
  for (ci = 0; ci < cinfo.num_components; ci++) {
    jpeg_component_info *c = &cinfo.comp_info[ci];
    int w = c->width_in_blocks * DCTSIZE, h = c->v_samp_factor * DCTSIZE;
    planes[ci] = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, w, h);
    out[ci] = calloc((size_t)c->downsampled_width, (size_t)c->height_in_blocks * DCTSIZE + h);
  }
  int iMCU = 0;
  while (cinfo.output_scanline < cinfo.output_height) {
    jpeg_read_raw_data(&cinfo, planes, rows);
    for (ci = 0; ci < cinfo.num_components; ci++) {
      jpeg_component_info *c = &cinfo.comp_info[ci];
      int h = c->v_samp_factor * DCTSIZE;
      for (r = 0; r < h; r++) {
        int y = iMCU * h + r;
        if (y < (int)c->downsampled_height)
          memcpy(out[ci] + (size_t)y * c->downsampled_width, planes[ci][r], c->downsampled_width);
      }
    }
    iMCU++;
  }
  put32(cinfo.num_components);
  for (ci = 0; ci < cinfo.num_components; ci++) {
    jpeg_component_info *c = &cinfo.comp_info[ci];
    put32(c->downsampled_width);
    put32(c->downsampled_height);
    fwrite(out[ci], 1, (size_t)c->downsampled_width * c->downsampled_height, stdout);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}
