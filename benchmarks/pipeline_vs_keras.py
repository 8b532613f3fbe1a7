"""skinbench's cached input pipeline against the usual ways of feeding Keras, on the same images.

The reference code fed Keras through ``ImageDataGenerator.flow_from_dataframe``, which decodes
and resizes every JPEG in every epoch (tf-keras still ships it; Keras 3 dropped it). The usual
Keras 3 way is ``keras.utils.image_dataset_from_directory`` (tf.data, parallel decode).
skinbench decodes and resizes once into a memory-mapped uint8 cache and draws shuffled batches
from it. All three are timed over one epoch of the same synthetic HAM10000 images at the
backbones' usual 224 px, then the pipeline is set against the fastest backbone's training
speed on this machine, to show it does not starve training.

Usage: python benchmarks/pipeline_vs_keras.py [--count 1000] [--image-size 224] [--batch-size 32]
The last line printed is ``speedup: <ratio>`` (skinbench over flow_from_dataframe).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import psutil


def epoch_images_per_s(batches, n_images: int) -> float:
    """Images/s of one pass over an iterable of batches."""
    start = time.perf_counter()
    for _ in batches:
        pass
    return n_images / (time.perf_counter() - start)


def skinbench_images_per_s(root, image_size: int, batch_size: int) -> tuple[float, float]:
    """(cache build seconds, images/s of one shuffled epoch from the cache, after a warm pass)."""
    from skinbench.benchmark import pipeline_epoch_seconds
    from skinbench.data.cache import build_cache
    from skinbench.data.ham10000 import load_dataset
    from skinbench.data.metadata import MetadataEncoder
    from skinbench.data.pipeline import Batches

    dataset = load_dataset(root)
    start = time.perf_counter()
    cache = build_cache(dataset, image_size, rule="crop", progress=False)
    build_s = time.perf_counter() - start
    frame = dataset.frame
    metadata = MetadataEncoder().fit(frame).transform(frame)
    batches = Batches(cache.images, cache.rows(frame["image_id"]), frame["label"].to_numpy(), metadata, batch_size=batch_size, seed=0)
    pipeline_epoch_seconds(batches)
    batches.set_epoch(1)
    return build_s, len(frame) / pipeline_epoch_seconds(batches)


def flow_from_dataframe_images_per_s(root, image_size: int, batch_size: int) -> float:
    """The reference code's way: tf-keras ImageDataGenerator.flow_from_dataframe, one epoch."""
    from tf_keras.preprocessing.image import ImageDataGenerator

    from skinbench.data.ham10000 import load_dataset

    frame = load_dataset(root).frame[["path", "dx"]]
    flow = ImageDataGenerator().flow_from_dataframe(
        frame, x_col="path", y_col="dx", target_size=(image_size, image_size), batch_size=batch_size, class_mode="categorical"
    )
    start = time.perf_counter()
    for index in range(len(flow)):
        flow[index]
    return len(frame) / (time.perf_counter() - start)


def image_dataset_from_directory_images_per_s(root, image_size: int, batch_size: int, n_images: int) -> float:
    """The usual Keras 3 way: keras.utils.image_dataset_from_directory (tf.data), one epoch."""
    import keras

    dataset = keras.utils.image_dataset_from_directory(
        root, labels=None, image_size=(image_size, image_size), batch_size=batch_size, shuffle=True, seed=0, verbose=False
    )
    return epoch_images_per_s(dataset, n_images)


def fastest_training_images_per_s(image_size: int, batch_size: int) -> tuple[str, float]:
    """Training images/s of the fastest backbone (MobileNetV3Small) on this machine."""
    from skinbench.benchmark import bench_backbone

    row = bench_backbone("mobilenetv3small", image_size=image_size, batch_size=batch_size, precision="float32", recipe="metadata", steps=5, warmup=2)
    return row.backbone, row.train_images_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="synthetic images (600x450 JPEGs)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from skinbench.data.synthetic import ensure_synthetic

    root = ensure_synthetic(count=args.count, size=(600, 450), seed=0)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    print(f"images: {args.count} synthetic 600x450 JPEGs -> {args.image_size} px, batch {args.batch_size}")

    build_s, cached = skinbench_images_per_s(root, args.image_size, args.batch_size)
    print(f"skinbench cache build (once per resolution): {build_s:.1f} s")
    print(f"skinbench cached pipeline:                  {cached:10.1f} images/s")
    flow = flow_from_dataframe_images_per_s(root, args.image_size, args.batch_size)
    print(f"ImageDataGenerator.flow_from_dataframe:     {flow:10.1f} images/s")
    tfdata = image_dataset_from_directory_images_per_s(root, args.image_size, args.batch_size, args.count)
    print(f"keras.utils.image_dataset_from_directory:   {tfdata:10.1f} images/s")
    backbone, training = fastest_training_images_per_s(args.image_size, args.batch_size)
    print(f"fastest training ({backbone}, float32):  {training:10.1f} images/s")
    print(f"pipeline / training: {cached / training:.1f}x (goal: at least 5x)")
    print(f"speedup over image_dataset_from_directory: {cached / tfdata:.1f}x")
    print(f"speedup: {cached / flow:.1f}")


if __name__ == "__main__":
    main()
