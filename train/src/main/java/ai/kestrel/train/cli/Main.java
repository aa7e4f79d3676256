package ai.kestrel.train.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./kestrel} command line. Each subcommand is its own class; errors are one clear line. */
@Command(name = "kestrel", mixinStandardHelpOptions = true, version = "Kestrel 0.1.0",
        description = "Run and fine-tune Falcon-H1 and Falcon-Mamba models in pure Java.",
        subcommands = {GenerateCommand.class, ChatCommand.class, LogitsCommand.class, TokenizeCommand.class, InitCommand.class, QuantizeCommand.class, TrainCommand.class, EvalCommand.class, ExtractAnswerCommand.class, DeepConfCommand.class, DemoCommand.class, TourCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Runs the command line and returns the exit code. */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, line, parse) -> {
            line.getErr().println("kestrel " + line.getCommandName() + ": " + oneLine(ex));
            if (Boolean.getBoolean("kestrel.trace")) {
                ex.printStackTrace(line.getErr());
            }
            return 1;
        });
        return cl.execute(args);
    }

    static String oneLine(Throwable ex) {
        String m = ex.getMessage();
        return m == null || m.isBlank() ? ex.getClass().getSimpleName() : m.replace('\n', ' ');
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }
}
