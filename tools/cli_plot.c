/*
 * cli_plot.c - PNG plots of a `coherio bench` run, drawn by gnuplot (the
 * data goes inline as datablocks, so DIR receives only the PNGs):
 *
 *   ratios.png        every comparison's ratio as a bar from 1x, its target
 *                     as a mark, coloured by verdict (log scale)
 *   latency-ID.png    per workload: the latency distribution (CDF) of each
 *                     contestant, pooled over rounds (log scale)
 *   scaling.png       the hit path's ops/s against threads, with the line
 *                     a 0.8-per-added-core target asks for
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli.h"

/* mkdir -p */
static int make_dir(const char *dir)
{
	char tmp[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A gnuplot single-quoted string ('' stands for '). */
static void gp_str(FILE *gp, const char *s)
{
	fputc('\'', gp);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', gp);
		fputc(*s, gp);
	}
	fputc('\'', gp);
}

/* A double-quoted label for a datablock (no quotes inside). */
static void gp_label(FILE *gp, const char *s)
{
	fputc('"', gp);
	for (; *s; s++)
		fputc(*s == '"' ? '\'' : *s, gp);
	fputc('"', gp);
}

static const char *terminal(void)
{
	static const char *term;

	if (!term)
		term = system("gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1") == 0 ?
		       "pngcairo font 'Sans,10'" : "png";
	return term;
}

static void gp_output(FILE *gp, const char *dir, const char *name, int w, int h)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fprintf(gp, "reset\nset terminal %s size %d,%d noenhanced\nset output ",
	        terminal(), w, h);
	gp_str(gp, path);
	fputc('\n', gp);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ratios.png: one row per comparison (bottom to top in table order):
 * label, ratio, target (NaN when none), colour by verdict. */
static int plot_ratio_chart(FILE *gp, const struct bs_suite *b, const char *dir)
{
	int n = 0;

	fprintf(gp, "$ratios << EOD\n");
	for (int i = b->ncm - 1; i >= 0; i--) {
		const struct bs_cmp *c = &b->cm[i];
		char label[160];

		if (c->cm_metric == BS_M_EFF || isnan(c->cm_ratio))
			continue;
		snprintf(label, sizeof(label), "%s: %s", b->gr[c->cm_group].gr_id, c->cm_name);
		gp_label(gp, label);
		if (c->cm_target > 0)
			fprintf(gp, " %g %g", c->cm_ratio, c->cm_target);
		else
			fprintf(gp, " %g NaN", c->cm_ratio);
		fprintf(gp, " %d\n", c->cm_verdict == BS_V_PASS ? 1 :
		        c->cm_verdict == BS_V_MISS ? 2 : 3);
		n++;
	}
	fprintf(gp, "EOD\n");
	if (!n)
		return 0;
	gp_output(gp, dir, "ratios.png", 1100, 140 + 22 * n);
	fprintf(gp,
	        "set title 'coherio / kernel: median of per-round ratios "
	        "(bars from 1x; CPU/op rows: lower is better)'\n"
	        "set logscale x\nset xlabel 'ratio (log scale)'\n"
	        "set grid xtics\nset ytics scale 0 font ',8'\nset yrange [-0.7:%d-0.3]\n"
	        "set key bottom right\nset style fill solid 0.8 border -1\n"
	        "set linetype 1 lc rgb '#2ca02c'\nset linetype 2 lc rgb '#d62728'\n"
	        "set linetype 3 lc rgb '#7f7f7f'\n"
	        "set arrow from 1, graph 0 to 1, graph 1 nohead lc rgb 'black'\n"
	        "plot $ratios using (1):0:($2 < 1 ? $2 : 1):($2 < 1 ? 1 : $2):"
	        "($0 - 0.35):($0 + 0.35):4:ytic(1) with boxxyerror lc variable "
	        "notitle, \\\n"
	        "  $ratios using 3:0 with points pt 9 ps 1.6 lc rgb 'black' "
	        "title 'target', \\\n"
	        "  NaN with boxes lc 1 title 'PASS', NaN with boxes lc 2 title 'MISS', "
	        "NaN with boxes lc 3 title 'information'\n", n);
	return 1;
}

/* latency-ID.png for each workload that has samples */
static int plot_latency(FILE *gp, const struct bs_suite *b, const char *dir)
{
	static const double tail[] = { 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999 };
	int plots = 0;

	for (int g = 0; g < b->ngr; g++) {
		int idx[BS_MAX_SIDES], ns = 0;
		char name[64];

		for (int i = 0; i < b->nsd; i++)
			if (b->sd[i].sd_group == g && b->sd[i].sd_nlat > 0)
				idx[ns++] = i;
		if (!ns)
			continue;
		for (int j = 0; j < ns; j++) {
			const struct bs_side *s = &b->sd[idx[j]];
			uint64_t *v = malloc(s->sd_nlat * sizeof(*v));

			if (!v)
				return -ENOMEM;
			memcpy(v, s->sd_lat, s->sd_nlat * sizeof(*v));
			qsort(v, s->sd_nlat, sizeof(*v), cmp_u64);
			fprintf(gp, "$s%d << EOD\n", j);
			for (int q = 0; q <= 200; q++) {
				double p = q / 200.0 * 0.95;
				size_t k = (size_t)(p * (double)(s->sd_nlat - 1));

				fprintf(gp, "%g %g\n", (double)(v[k] ? v[k] : 1) / 1e3, p);
			}
			for (size_t q = 0; q < sizeof(tail) / sizeof(tail[0]); q++) {
				size_t k = (size_t)(tail[q] * (double)(s->sd_nlat - 1));

				fprintf(gp, "%g %g\n", (double)(v[k] ? v[k] : 1) / 1e3, tail[q]);
			}
			fprintf(gp, "%g 1\nEOD\n",
			        (double)(v[s->sd_nlat - 1] ? v[s->sd_nlat - 1] : 1) / 1e3);
			free(v);
		}
		snprintf(name, sizeof(name), "latency-%s.png", b->gr[g].gr_id);
		gp_output(gp, dir, name, 1000, 560);
		fprintf(gp, "set title ");
		gp_str(gp, b->gr[g].gr_title);
		fprintf(gp, " font ',9'\nset logscale x\nset xlabel 'latency (us, log "
		        "scale)'\nset ylabel 'fraction of operations'\n"
		        "set yrange [0:1]\nset grid\nset key bottom right font ',9'\n"
		        "plot ");
		for (int j = 0; j < ns; j++) {
			fprintf(gp, "%s$s%d using 1:2 with lines lw 2 title ", j ? ", \\\n  " : "",
			        j);
			gp_str(gp, b->sd[idx[j]].sd_name);
		}
		fprintf(gp, "\n");
		plots++;
	}
	return plots;
}

/* scaling.png */
static int plot_scaling(FILE *gp, const struct bs_suite *b, const char *dir)
{
	static const char *const prefix[] = {
		"coherio cached read", "coherio pin+unpin", "kernel buffered pread",
	};
	int g = -1, any = 0;

	for (int i = 0; i < b->ngr; i++)
		if (strcmp(b->gr[i].gr_id, "scale") == 0)
			g = i;
	if (g < 0)
		return 0;
	for (int p = 0; p < 3; p++) {
		double one = NAN;

		fprintf(gp, "$c%d << EOD\n", p);
		for (int i = 0; i < b->nsd; i++) {
			const struct bs_side *s = &b->sd[i];
			double v;

			if (s->sd_group != g || strncmp(s->sd_name, prefix[p],
			                                strlen(prefix[p])) != 0 || !s->sd_nrounds)
				continue;
			v = bs_side_median(s, BS_M_OPS);
			if (s->sd_threads == 1)
				one = v;
			fprintf(gp, "%d %g %g\n", s->sd_threads, v / 1e6,
			        isnan(one) ? NAN : one * (1 + 0.8 * (s->sd_threads - 1)) / 1e6);
			any = 1;
		}
		fprintf(gp, "EOD\n");
	}
	if (!any)
		return 0;
	gp_output(gp, dir, "scaling.png", 900, 560);
	fprintf(gp,
	        "set title 'Hit path scaling: 4 KiB random reads of the LLC-sized set "
	        "(median of rounds)'\n"
	        "set xlabel 'threads'\nset ylabel 'million ops/s'\nset grid\n"
	        "set xtics 1\nset key top left\nset yrange [0:*]\n"
	        "plot $c0 using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' "
	        "title 'coherio cached read', \\\n"
	        "  $c0 using 1:3 with lines dt 2 lc rgb '#1f77b4' "
	        "title 'cached read: 0.8/core target', \\\n"
	        "  $c1 using 1:2 with linespoints lw 2 pt 5 lc rgb '#ff7f0e' "
	        "title 'coherio pin+unpin', \\\n"
	        "  $c1 using 1:3 with lines dt 2 lc rgb '#ff7f0e' "
	        "title 'pin+unpin: 0.8/core target', \\\n"
	        "  $c2 using 1:2 with linespoints lw 2 pt 9 lc rgb '#7f7f7f' "
	        "title 'kernel buffered pread (reference)'\n");
	return 1;
}

int bs_plot(const struct bs_suite *b, const char *dir)
{
	FILE *gp;
	int r, n = 0, st;

	r = make_dir(dir);
	if (r < 0)
		return r;
	(void)terminal();
	gp = popen("gnuplot", "w");
	if (!gp)
		return -errno;
	r = plot_ratio_chart(gp, b, dir);
	if (r > 0)
		n += r;
	r = plot_latency(gp, b, dir);
	if (r > 0)
		n += r;
	r = plot_scaling(gp, b, dir);
	if (r > 0)
		n += r;
	st = pclose(gp);
	if (st == -1)
		return -errno;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return WIFEXITED(st) && WEXITSTATUS(st) == 127 ? -ENOENT : -EPROTO;
	return n;
}
