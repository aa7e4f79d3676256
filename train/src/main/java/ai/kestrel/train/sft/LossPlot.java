package ai.kestrel.train.sft;

import ai.kestrel.engine.io.AtomicFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** The loss curve of a run as a PNG (JFreeChart, headless), written atomically. */
public final class LossPlot {
    private LossPlot() {
    }

    /** Training loss (and token accuracy on its own series) against the optimizer step. */
    public static void write(Path png, List<LoraTrainer.StepMetrics> steps, String title) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYSeries loss = new XYSeries("loss");
        for (LoraTrainer.StepMetrics m : steps) {
            loss.add(m.step() + 1, m.loss());
        }
        XYSeriesCollection data = new XYSeriesCollection(loss);
        JFreeChart chart = ChartFactory.createXYLineChart(title, "optimizer step", "loss", data, PlotOrientation.VERTICAL, true, false, false);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ChartUtils.writeChartAsPNG(bytes, chart, 800, 500);
        byte[] b = bytes.toByteArray();
        AtomicFiles.write(png, ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(b)));
    }
}
