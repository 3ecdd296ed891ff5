using VitAttention.Models;

namespace VitAttention.Tests.FashionMnist;

/// <summary>Do the trained model's rollout maps mean something? Masking and garment tests on real test images.</summary>
public partial class FashionVitTests
{
    /// <summary>
    /// For the first 100 test images: masking the quarter of the patches that the rollout ranks highest lowers the
    /// probability of the predicted class more, on average, than masking a random quarter (five seeded draws per image).
    /// Masked patches are set to black in the image itself, the value of Fashion-MNIST's background, so a masked patch
    /// looks like "no garment here" rather than a grey square the model never saw in training; both arms use the same
    /// value. Every image, masked or not, goes through the public path: an encoded PNG, decoded and preprocessed by the
    /// library as preprocessor_config.json says, explained by <see cref="VitExplainer.ExplainMany{TImage}"/>.
    /// </summary>
    [Test]
    public void Rollout_MaskTopQuarterOfPatches_LowersPredictedProbabilityMoreThanRandomQuarter()
    {
        const int images = 100, draws = 5;
        var data = FashionMnistTestSet.Load();
        var config = _explainer.Config;
        int patches = config.Patches, k = (int)Math.Round(0.25 * patches);
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

            var masked = arms.Select((arm, a) => ImageInput.FromBytes(FashionMnistTestSet.Png(MaskPatches(data.Pixels(i), arm, config)), $"test {i} arm {a}"));
            var after = _explainer.ExplainMany(masked).Select(x => { float p = x.Probabilities[predicted]; x.Dispose(); return p; }).ToArray();
            Assert.That(after, Has.Length.EqualTo(arms.Count));
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

    [Test]
    public void MaskPatches_TwoPatches_BlacksExactlyTheirPixels()
    {
        var config = _explainer.Config;
        var pixels = new byte[28 * 28];
        new Random(7).NextBytes(pixels);
        pixels.AsSpan().Replace((byte)0, (byte)1); // no black pixel before masking
        byte[] masked = MaskPatches(pixels, [0, 48], config); // the top-left and bottom-right 4x4 patches of the 7x7 grid
        for (int y = 0; y < 28; y++)
        {
            for (int x = 0; x < 28; x++)
            {
                bool inside = (y < 4 && x < 4) || (y >= 24 && x >= 24);
                Assert.That(masked[(y * 28) + x], inside ? Is.EqualTo(0) : Is.EqualTo(pixels[(y * 28) + x]), $"pixel ({x}, {y})");
            }
        }
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

    /// <summary>A copy of the 28 × 28 grey image with every pixel of the given patches (row-major over the grid) black.</summary>
    private static byte[] MaskPatches(ReadOnlySpan<byte> pixels, int[] patchIndices, VitConfig config)
    {
        byte[] copy = pixels.ToArray();
        int side = config.ImageWidth, p = config.PatchSize;
        foreach (int patch in patchIndices)
        {
            int r = patch / config.GridWidth, c = patch % config.GridWidth;
            for (int y = 0; y < p; y++)
            {
                copy.AsSpan((((r * p) + y) * side) + (c * p), p).Clear();
            }
        }

        return copy;
    }

    private static int[] Sample(int[] from, int k, Random rng)
    {
        var copy = (int[])from.Clone();
        rng.Shuffle(copy);
        return copy[..k];
    }
}
