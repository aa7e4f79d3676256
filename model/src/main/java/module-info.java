/** Kestrel model: Falcon-H1 and Falcon-Mamba (configs, layers, weights, tokenizer, generation). */
module ai.kestrel.model {
    requires transitive ai.kestrel.engine;
    requires com.google.gson;
    requires jinjava;

    exports ai.kestrel.model;
    exports ai.kestrel.model.config;
    exports ai.kestrel.model.falconh1;
    exports ai.kestrel.model.falconmamba;
    exports ai.kestrel.model.generate;
    exports ai.kestrel.model.lora;
    exports ai.kestrel.model.tokenizer;
}
