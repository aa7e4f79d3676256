/** LoRA adapters for Falcon-H1: targets, scaling, PEFT's file format both ways. */
package ai.kestrel.model.lora;
