package ai.kestrel.kernels.cuda;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Marks a GPU test class: tagged {@code cuda}, and skipped with one line naming what is missing when no CUDA device
 * is usable (the rest of the suite runs unchanged).
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Tag("cuda")
@ExtendWith(RequiresCuda.Condition.class)
public @interface RequiresCuda {
    /** Enables the class only where {@link Cuda#available()}. */
    final class Condition implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            return Cuda.available()
                    ? ConditionEvaluationResult.enabled("CUDA device: " + Cuda.get().describe())
                    : ConditionEvaluationResult.disabled("no CUDA device: " + Cuda.unavailableReason());
        }
    }
}
