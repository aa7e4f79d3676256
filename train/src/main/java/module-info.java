/** Kestrel train: the trainer, evaluation and the ./kestrel command line. */
module ai.kestrel.train {
    requires transitive ai.kestrel.model;
    requires com.google.gson;
    requires info.picocli;
    requires org.jfree.jfreechart;
    requires me.tongfei.progressbar;
    requires java.desktop;

    exports ai.kestrel.train.cli;
    exports ai.kestrel.train.eval;
    exports ai.kestrel.train.sft;
    exports ai.kestrel.train.tour;

    opens ai.kestrel.train.cli to info.picocli;
}
