using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention.Tests.FashionMnist;

/// <summary>Do the trained model's rollout maps mean something? Masking and garment tests on real test images.</summary>
public partial class FashionVitTests
{
    /// <summary>
    /// For the first 100 test images: masking the quarter of the patches that the rollout ranks highest lowers the
    /// probability of the predicted class more, on average, than masking a random quarter (five seeded draws per image).
    /// Masked patches are set to black, the value of Fashion-MNIST's background, so a masked patch looks like "no
    /// garment here" rather than a grey square the model never saw in training; both arms use the same value.
    /// </summary>
    [Test]
    public void Rollout_MaskTopQuarterOfPatches_LowersPredictedProbabilityMoreThanRandomQuarter()
    {
        const int images = 100, draws = 5;
        var data = FashionMnistTestSet.Load();
        var config = _explainer.Config;
        int patches = config.Patches, k = (int)Math.Round(0.25 * patches);
        var pre = new ImagePreprocessor(config);
        var rng = new Random(20261201);
        double dropRollout = 0, dropRandom = 0, dropRandomGarment = 0;
        int rolloutBeatsRandom = 0;
        for (int i = 0; i < images; i++)
        {
            using var e = _explainer.Explain(ImageInput.FromBytes(data.Png(i), $"test {i}"));
            int predicted = e.Predictions[0].Index;
            float before = e.Probabilities[predicted];
            float[] rollout = e.Rollout.ToArray();
            int[] top = Enumerable.Range(0, patches).OrderByDescending(j => rollout[j]).ThenBy(j => j).Take(k).ToArray();
            int[] garment = GarmentPatches(data.Pixels(i), config.GridWidth, config.PatchSize);

            using var image = pre.Preprocess(data.Png(i), $"test {i}");
            var arms = new List<int[]> { top };
            for (int d = 0; d < draws; d++)
            {
                arms.Add(Sample(Enumerable.Range(0, patches).ToArray(), k, rng));
            }

            for (int d = 0; d < draws; d++)
            {
                // A harder control: random patches that hold garment (all of them when fewer than k do).
                arms.Add(garment.Length > k ? Sample(garment, k, rng) : garment);
            }

            var batch = new float[arms.Count * image.Pixels.Length]; // [arm, 3, 28, 28]
            for (int a = 0; a < arms.Count; a++)
            {
                var item = batch.AsSpan(a * image.Pixels.Length, image.Pixels.Length);
                image.Pixels.CopyTo(item);
                MaskPatches(item, arms[a], config);
            }

            var after = _explainer.ExplainPixels(batch).Select(x => { float p = x.Probabilities[predicted]; x.Dispose(); return p; }).ToArray();
            double random = after.Skip(1).Take(draws).Average(p => before - p);
            dropRollout += before - after[0];
            dropRandom += random;
            dropRandomGarment += after.Skip(1 + draws).Average(p => before - p);
            rolloutBeatsRandom += before - after[0] > random ? 1 : 0;
        }

        dropRollout /= images;
        dropRandom /= images;
        dropRandomGarment /= images;
        TestContext.Out.WriteLine(
            $"mean drop of the predicted class's probability over {images} images, {k} of {patches} patches masked black: " +
            $"rollout's top {k} {dropRollout:F4}, random {dropRandom:F4}, random garment patches {dropRandomGarment:F4}; " +
            $"rollout beats random on {rolloutBeatsRandom} images");
        Assert.That(dropRollout, Is.GreaterThan(dropRandom));
    }

    /// <summary>Patches (row-major over the grid) whose mean grey value is at least 32 of 255: the garment, not the background.</summary>
    private static int[] GarmentPatches(ReadOnlySpan<byte> pixels, int grid, int patch)
    {
        var list = new List<int>();
        for (int r = 0; r < grid; r++)
        {
            for (int c = 0; c < grid; c++)
            {
                int sum = 0;
                for (int y = 0; y < patch; y++)
                {
                    for (int x = 0; x < patch; x++)
                    {
                        sum += pixels[(((r * patch) + y) * grid * patch) + (c * patch) + x];
                    }
                }

                if (sum >= 32 * patch * patch)
                {
                    list.Add((r * grid) + c);
                }
            }
        }

        return [.. list];
    }

    /// <summary>Sets every pixel of the given patches, in every channel, to the normalised value of black.</summary>
    private static void MaskPatches(Span<float> pixels, int[] patchIndices, VitConfig config)
    {
        int side = config.ImageWidth, plane = config.ImageHeight * side, p = config.PatchSize;
        for (int ch = 0; ch < config.Channels; ch++)
        {
            float black = (0f - config.Preprocess.Mean[ch]) / config.Preprocess.Std[ch];
            foreach (int patch in patchIndices)
            {
                int r = patch / config.GridWidth, c = patch % config.GridWidth;
                for (int y = 0; y < p; y++)
                {
                    pixels.Slice((ch * plane) + ((((r * p) + y) * side) + (c * p)), p).Fill(black);
                }
            }
        }
    }

    private static int[] Sample(int[] from, int k, Random rng)
    {
        var copy = (int[])from.Clone();
        rng.Shuffle(copy);
        return copy[..k];
    }
}
