package ai.kestrel.train.tour;

import java.lang.foreign.Arena;
import java.util.List;

/** A kernel family's contribution to the tour: its cases, with buffers allocated in {@code arena}. */
public interface TourSuite {
    List<TourCase> cases(Arena arena);
}
