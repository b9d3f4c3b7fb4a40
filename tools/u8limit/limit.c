// u8limit measures the int8 multiply-add limit of one core, the yardstick of issue 26:
// 10 independent accumulators, thread CPU time (so other jobs on the machine do not count),
// best of 5 rounds. AVX2: VPMADDUBSW, VPMADDWD by ones, VPADDD (ptqc's avx2 u8 path);
// with AVX-512 VNNI also VPDPBUSD on ymm and zmm.
//
//   gcc -O2 -o /tmp/u8limit tools/u8limit/limit.c && /tmp/u8limit
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double cpu(void) {
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { N = 100000000, ACC = 10, ROUNDS = 5 };

// Each function returns the best seconds of N iterations of ACC independent multiply-adds.
__attribute__((target("avx2"))) static double avx2(int *sum) {
	__m256i a = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1), w[ACC], acc[ACC];
	for (int k = 0; k < ACC; k++) w[k] = _mm256_set1_epi8(k + 1), acc[k] = _mm256_setzero_si256();
	double best = 1e9;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = cpu();
		for (long i = 0; i < N; i++) {
#pragma GCC unroll 10
			for (int k = 0; k < ACC; k++)
				acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_maddubs_epi16(a, w[k]), ones));
			__asm__ volatile("" : "+x"(a));
		}
		double t = cpu() - t0;
		if (t < best) best = t;
	}
	for (int k = 0; k < ACC; k++) *sum += _mm256_extract_epi32(acc[k], 0);
	return best;
}

__attribute__((target("avx512vnni,avx512vl,avx512bw,avx512f"))) static double vnni256(int *sum) {
	__m256i a = _mm256_set1_epi8(3), w[ACC], acc[ACC];
	for (int k = 0; k < ACC; k++) w[k] = _mm256_set1_epi8(k + 1), acc[k] = _mm256_setzero_si256();
	double best = 1e9;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = cpu();
		for (long i = 0; i < N; i++) {
#pragma GCC unroll 10
			for (int k = 0; k < ACC; k++) acc[k] = _mm256_dpbusd_epi32(acc[k], a, w[k]);
			__asm__ volatile("" : "+x"(a));
		}
		double t = cpu() - t0;
		if (t < best) best = t;
	}
	for (int k = 0; k < ACC; k++) *sum += _mm256_extract_epi32(acc[k], 0);
	return best;
}

__attribute__((target("avx512vnni,avx512bw,avx512f"))) static double vnni512(int *sum) {
	__m512i a = _mm512_set1_epi8(3), w[ACC], acc[ACC];
	for (int k = 0; k < ACC; k++) w[k] = _mm512_set1_epi8(k + 1), acc[k] = _mm512_setzero_si512();
	double best = 1e9;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = cpu();
		for (long i = 0; i < N; i++) {
#pragma GCC unroll 10
			for (int k = 0; k < ACC; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], a, w[k]);
			__asm__ volatile("" : "+v"(a));
		}
		double t = cpu() - t0;
		if (t < best) best = t;
	}
	for (int k = 0; k < ACC; k++) *sum += _mm512_reduce_add_epi32(acc[k]);
	return best;
}

static void report(const char *name, double secs, int lanes) {
	printf("%-28s %6.1f G multiply-adds/s\n", name, (double)N * ACC * lanes / secs / 1e9);
}

int main(void) {
	int sum = 0;
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2")) {
		fprintf(stderr, "u8limit: this CPU has no AVX2\n");
		return 1;
	}
	report("avx2 VPMADDUBSW+VPMADDWD", avx2(&sum), 32);
	if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) {
		report("VPDPBUSD ymm", vnni256(&sum), 32);
		report("VPDPBUSD zmm", vnni512(&sum), 64);
	}
	return sum == 42; // keeps the sums live
}
