/*
 * replay_main.c - runs fuzz_ops.c's LLVMFuzzerTestOneInput() over saved
 * inputs without libFuzzer, so the corpus is a test with any compiler:
 *   fuzz_replay FILE|DIR ...   (a directory: every regular file in it
 *                               but README*)
 * Exit 0 when every input ran (a violation aborts inside the harness with
 * its report), 2 on a usage or read error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!fp) {
		perror(path);
		return -1;
	}
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, fp) != (size_t)n)) {
		fprintf(stderr, "%s: cannot read\n", path);
		fclose(fp);
		free(buf);
		return -1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int ran = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: fuzz_replay FILE|DIR ...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 2;
		}
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;
			char **names = NULL;
			size_t n = 0;

			if (!d) {
				perror(argv[i]);
				return 2;
			}
			while ((e = readdir(d))) {
				char *p;

				if (e->d_name[0] == '.' || !strncmp(e->d_name, "README", 6))
					continue;           /* notes, not inputs */
				if (asprintf(&p, "%s/%s", argv[i], e->d_name) < 0)
					return 2;
				names = realloc(names, (n + 1) * sizeof(*names));
				names[n++] = p;
			}
			closedir(d);
			qsort(names, n, sizeof(*names), cmp);
			for (size_t k = 0; k < n; k++) {
				struct stat fs;

				if (stat(names[k], &fs) == 0 && S_ISREG(fs.st_mode)) {
					if (run_file(names[k]) < 0)
						return 2;
					ran++;
				}
				free(names[k]);
			}
			free(names);
		} else {
			if (run_file(argv[i]) < 0)
				return 2;
			ran++;
		}
	}
	printf("fuzz_replay: %d input%s, no violation\n", ran, ran == 1 ? "" : "s");
	return 0;
}
