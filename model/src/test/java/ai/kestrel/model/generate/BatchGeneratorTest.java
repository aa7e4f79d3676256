package ai.kestrel.model.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.model.LanguageModel;
import ai.kestrel.model.testing.Fixture;
import ai.kestrel.model.tokenizer.Tokenizer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Continuous batching must not change what a request generates: rows at different positions step together, leave
 * when they end and are replaced, and every request gets the ids (and top-k log-probabilities, up to the rounding
 * of a batched product against a one-row one) it gets alone.
 */
class BatchGeneratorTest {
    private static List<BatchGenerator.Request> requests(Fixture f, Tokenizer tok) {
        List<int[]> prompts = new ArrayList<>();
        for (Fixture.Prompt p : f.prompts("f32")) {
            prompts.add(p.inputIds());
        }
        prompts.add(tok.encode("Once upon a time"));
        prompts.add(tok.encode("1 2 3 4 5 6 7 8 9 10 11 12"));
        prompts.add(tok.encode("x"));
        prompts.add(prompts.get(0));
        prompts.add(prompts.get(0));
        List<BatchGenerator.Request> out = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            Sampler s = i % 2 == 0 ? Sampler.greedy() : Sampler.sampling(1.0, 0, 1.0, 100 + i);
            Generator.Options o = new Generator.Options(3 + (i * 5) % 11, s, Set.of(), List.of(), Generator.LoopPolicy.REPORT, 5);
            out.add(new BatchGenerator.Request(prompts.get(i), o, null, null, i));
        }
        return out;
    }

    /** Fresh samplers (they carry their random state): a request's options rebuilt with the same seed. */
    private static Generator.Options again(Generator.Options o, int i) {
        Sampler s = i % 2 == 0 ? Sampler.greedy() : Sampler.sampling(1.0, 0, 1.0, 100 + i);
        return new Generator.Options(o.maxNewTokens(), s, o.stopIds(), o.stopStrings(), o.loop(), o.topLogprobs());
    }

    @Test
    void batchedRowsGenerateWhatEachRequestGeneratesAlone() throws IOException {
        for (String m : Fixture.MODELS) {
            Fixture f = Fixture.of(m);
            Tokenizer tok = Tokenizer.fromJson(f.file("tokenizer.json"));
            // keys and values in float32 and in half precision (the ragged steps read the half cache row by row)
            for (DType kv : m.equals("falcon-mamba") ? List.of(DType.F32) : List.of(DType.F32, DType.F16)) {
                try (LanguageModel model = GenerationFixtureTest.load(f, "f32")) {
                    model.setKvCacheType(kv);
                    // a batched product and a one-row one differ in the last bit now and then; rounded to half
                    // precision, such a key or value moves by up to a half's step (2^-11 relative): 2.2e-4 seen
                    double tol = kv == DType.F16 ? 2e-3 : 2e-4;
                    List<BatchGenerator.Request> reqs = requests(f, tok);
                    long live = Scope.liveBytes();
                    List<Generator.Result> batched = BatchGenerator.generate(model, tok, reqs, 3);
                    assertEquals(live, Scope.liveBytes(), m + ": the batch freed its caches");
                    for (int i = 0; i < reqs.size(); i++) {
                        BatchGenerator.Request r = reqs.get(i);
                        Generator.Result alone = Generator.generate(model, tok, r.prompt(), again(r.options(), i), null);
                        Generator.Result b = batched.get(i);
                        String what = m + " " + kv + " cache, request " + i + " (prompt " + r.prompt().length + " tokens)";
                        assertArrayEquals(alone.ids(), b.ids(), what + " ids");
                        assertEquals(alone.text(), b.text(), what + " text");
                        assertEquals(alone.reason(), b.reason(), what + " stop reason");
                        assertEquals(r.options().maxNewTokens(), b.ids().length, what + " length");
                        assertEquals(alone.logprobs().size(), b.logprobs().size());
                        for (int s = 0; s < alone.logprobs().size(); s++) {
                            float[] e = alone.logprobs().get(s);
                            float[] g = b.logprobs().get(s);
                            for (int k = 0; k < e.length; k++) {
                                assertEquals(e[k], g[k], tol, what + " step " + s + " logprob " + k);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void repeatedPromptsArePrefilledOnceAndHooksAndCancellationEndRows() throws IOException {
        Fixture f = Fixture.of("falcon-h1-g2");
        Tokenizer tok = Tokenizer.fromJson(f.file("tokenizer.json"));
        try (LanguageModel model = GenerationFixtureTest.load(f, "f32")) {
            int[] prompt = tok.encode("The answer is");
            AtomicInteger next = new AtomicInteger();
            List<Generator.Result> results = new ArrayList<>();
            // six traces of one prompt; trace 2's hook ends it after 2 tokens
            BatchGenerator.Stats st = BatchGenerator.run(model, tok, 4, () -> {
                int i = next.getAndIncrement();
                if (i >= 6) {
                    return null;
                }
                int[] seen = {0};
                BatchGenerator.StepHook hook = i == 2 ? (id, top) -> ++seen[0] >= 2 : null;
                return new BatchGenerator.Request(prompt, new Generator.Options(8, Sampler.sampling(1.0, 0, 1.0, i), Set.of(), List.of(),
                        Generator.LoopPolicy.IGNORE, 20), hook, null, i);
            }, (r, res) -> {
                results.add(res);
                if ((Integer) r.tag() == 2) {
                    assertEquals(Generator.StopReason.STOPPED, res.reason());
                    assertEquals(2, res.ids().length);
                }
                return false;
            });
            assertEquals(6, st.sequences());
            assertEquals(1, st.prefills(), "one prompt, one prefill");
            assertEquals(6, results.size());
            assertEquals(5 * 8 + 2, st.tokens());
            assertTrue(results.stream().allMatch(r -> r.logprobs().stream().allMatch(l -> l.length == 20)));

            // a sink that returns true cancels every other active row
            next.set(0);
            List<Generator.StopReason> reasons = new ArrayList<>();
            BatchGenerator.run(model, tok, 4, () -> next.get() < 4 ? new BatchGenerator.Request(prompt,
                    new Generator.Options(2 + 3 * next.getAndIncrement(), Sampler.greedy(), Set.of(), List.of(), Generator.LoopPolicy.IGNORE, 0),
                    null, null, null) : null, (r, res) -> {
                        reasons.add(res.reason());
                        return true;
                    });
            assertEquals(List.of(Generator.StopReason.LENGTH, Generator.StopReason.STOPPED, Generator.StopReason.STOPPED,
                    Generator.StopReason.STOPPED), reasons);
        }
    }
}
