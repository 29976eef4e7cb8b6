package dev.meshlite.e2e.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import javax.imageio.ImageIO;

/**
 * The run's two PNG plots, drawn with Java 2D (headless) so the benchmark needs nothing beyond the
 * JDK: latency percentiles per scenario (one panel per connection count, at the fewest pods per
 * node measured), and total proxy memory on a node against pods per node, node shape against pod
 * shapes.
 */
final class Plots {

    private static final Color[] SERIES = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
            new Color(0xd62728), new Color(0x9467bd)};
    private static final int W = 1100;
    private static final int H = 520;

    private Plots() {
    }

    static void latency(Path file, List<Row> rows) throws IOException {
        int pods = rows.stream().mapToInt(Row::podsPerNode).min().orElse(1);
        List<Integer> conns = new ArrayList<>(new TreeSet<>(rows.stream().map(Row::connections).toList()));
        BufferedImage img = canvas();
        Graphics2D g = graphics(img);
        title(g, "Latency at the client, " + pods + " pod(s) per node (ms; lower is better)");
        int panelW = (W - 40) / Math.max(1, conns.size());
        double max = rows.stream().filter(r -> r.podsPerNode() == pods).mapToDouble(Row::p99Ms).max().orElse(1) * 1.15;
        String[] pct = {"p50", "p90", "p99"};
        for (int c = 0; c < conns.size(); c++) {
            int conn = conns.get(c);
            List<Row> panel = rows.stream().filter(r -> r.podsPerNode() == pods && r.connections() == conn).toList();
            int x0 = 70 + c * panelW;
            int plotW = panelW - 90;
            int y0 = 80;
            int plotH = H - 170;
            axes(g, x0, y0, plotW, plotH, max, conn + " connection(s)");
            int group = panel.isEmpty() ? 1 : plotW / panel.size();
            for (int i = 0; i < panel.size(); i++) {
                Row r = panel.get(i);
                double[] v = {r.p50Ms(), r.p90Ms(), r.p99Ms()};
                int bw = Math.min(70, Math.max(6, (group - 20) / 3));
                for (int k = 0; k < 3; k++) {
                    int h = (int) Math.round(v[k] / max * plotH);
                    int x = x0 + i * group + 10 + k * bw;
                    g.setColor(SERIES[k]);
                    g.fillRect(x, y0 + plotH - h, bw - 2, h);
                    g.setColor(Color.DARK_GRAY);
                    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
                    g.drawString(String.format(Locale.ROOT, "%.2f", v[k]), x, y0 + plotH - h - 3);
                }
                g.setColor(Color.BLACK);
                g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
                g.drawString(r.scenario(), x0 + i * group + 10, y0 + plotH + 18);
            }
        }
        legend(g, List.of(pct), 70, H - 40);
        write(img, file);
    }

    static void memory(Path file, List<Row> rows) throws IOException {
        Map<String, Map<Integer, Double>> series = new LinkedHashMap<>();
        for (Row r : rows) {
            if (!r.scenario().equals("none")) {
                series.computeIfAbsent(r.scenario(), s -> new java.util.TreeMap<>()).put(r.podsPerNode(), r.proxyRssMibPerNode());
            }
        }
        List<Integer> pods = new ArrayList<>(new TreeSet<>(rows.stream().map(Row::podsPerNode).toList()));
        BufferedImage img = canvas();
        Graphics2D g = graphics(img);
        title(g, "Total proxy memory (RSS) on one node against pods per node (MiB; lower is better)");
        double max = series.values().stream().flatMap(m -> m.values().stream()).mapToDouble(Double::doubleValue).max().orElse(1) * 1.15;
        int x0 = 90;
        int y0 = 80;
        int plotW = W - 160;
        int plotH = H - 170;
        axes(g, x0, y0, plotW, plotH, max, "pods per node");
        int step = pods.size() <= 1 ? plotW : plotW / (pods.size() - 1);
        for (int i = 0; i < pods.size(); i++) {
            g.setColor(Color.BLACK);
            g.drawString(Integer.toString(pods.get(i)), x0 + i * step - 4, y0 + plotH + 18);
        }
        int s = 0;
        for (var e : series.entrySet()) {
            g.setColor(SERIES[s % SERIES.length]);
            g.setStroke(new BasicStroke(2.5f));
            int px = -1;
            int py = -1;
            for (var p : e.getValue().entrySet()) {
                int x = x0 + pods.indexOf(p.getKey()) * step;
                int y = y0 + plotH - (int) Math.round(p.getValue() / max * plotH);
                if (px >= 0) {
                    g.drawLine(px, py, x, y);
                }
                g.fillOval(x - 4, y - 4, 8, 8);
                g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
                g.drawString(String.format(Locale.ROOT, "%.0f", p.getValue()), x + 6, y - 6);
                px = x;
                py = y;
            }
            s++;
        }
        g.setStroke(new BasicStroke(1f));
        List<String> names = new ArrayList<>();
        for (String name : series.keySet()) {
            names.add(switch (name) {
                case "ambient" -> "ambient (one ztunnel per node)";
                case "dedicated" -> "dedicated (one ztunnel per pod)";
                case "stunnel" -> "stunnel (one per pod)";
                default -> name;
            });
        }
        legend(g, names, 90, H - 40);
        write(img, file);
    }

    private static void axes(Graphics2D g, int x0, int y0, int w, int h, double max, String label) {
        g.setColor(new Color(0xdddddd));
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        for (int i = 0; i <= 5; i++) {
            int y = y0 + h - h * i / 5;
            g.setColor(new Color(0xe5e5e5));
            g.drawLine(x0, y, x0 + w, y);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(Locale.ROOT, max * i / 5 >= 10 ? "%.0f" : "%.2f", max * i / 5), x0 - 45, y + 4);
        }
        g.setColor(Color.BLACK);
        g.drawLine(x0, y0, x0, y0 + h);
        g.drawLine(x0, y0 + h, x0 + w, y0 + h);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(label, x0 + w / 2 - 40, y0 + h + 40);
    }

    private static void legend(Graphics2D g, List<String> names, int x, int y) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        for (int i = 0; i < names.size(); i++) {
            g.setColor(SERIES[i % SERIES.length]);
            g.fillRect(x, y - 11, 14, 14);
            g.setColor(Color.BLACK);
            g.drawString(names.get(i), x + 20, y + 1);
            x += 40 + g.getFontMetrics().stringWidth(names.get(i));
        }
    }

    private static void title(Graphics2D g, String text) {
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 17));
        g.drawString(text, 30, 40);
    }

    private static BufferedImage canvas() {
        System.setProperty("java.awt.headless", "true");
        return new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
    }

    private static Graphics2D graphics(BufferedImage img) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        return g;
    }

    private static void write(BufferedImage img, Path file) throws IOException {
        if (!ImageIO.write(img, "png", file.toFile())) {
            throw new IOException("no PNG writer in this JDK");
        }
    }
}
