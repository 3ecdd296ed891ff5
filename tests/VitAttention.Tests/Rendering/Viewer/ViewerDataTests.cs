using SkiaSharp;
using VitAttention.Rendering.Viewer;

namespace VitAttention.Tests.Rendering.Viewer;

public class ViewerDataTests
{
    private static ViewerData Sample() => ViewerSamples.Random(2, 2, 3, 4, ["CLS", "REG1"], seed: 5);

    [Test]
    public void Validate_Sample_Passes() => Assert.DoesNotThrow(() => Sample().Validate());

    [Test]
    public void Validate_AttentionOfWholeBatch_ThrowsNamingShapeAndFix()
    {
        var data = Sample();
        data = data with { Attention = [.. data.Attention, .. data.Attention] }; // two batch items instead of one
        var ex = Assert.Throws<ArgumentException>(data.Validate);
        Assert.That(ex!.Message, Does.Contain("ViewerData.Attention").And.Contain("[layer 2, head 2, query 14, key 14]").And.Contain("this image's attention only"));
    }

    [Test]
    public void Validate_NegativeAttention_ThrowsNamingLayerHeadQueryKey()
    {
        var data = Sample();
        int t = data.Tokens;
        data.Attention[(((1 * 2) + 1) * t * t) + (3 * t) + 4] = -0.25f;
        var ex = Assert.Throws<ArgumentException>(data.Validate);
        Assert.That(ex!.Message, Does.Contain("[layer 2, head 2, query 3, key 4] is -0.25"));
    }

    [Test]
    public void Validate_MapOfWrongLength_ThrowsNamingMethodAndGrid()
    {
        var data = Sample() with { Maps = [new ViewerMap("rollout", null, null, new float[13])] };
        var ex = Assert.Throws<ArgumentException>(data.Validate);
        Assert.That(ex!.Message, Does.Contain("map 'rollout' has 13 values; the 3×4 grid needs 12"));
    }

    [Test]
    public void Validate_MapNamedLikeThePagesOwnView_Throws()
    {
        var data = Sample() with { Maps = [new ViewerMap("attention", null, null, new float[12])] };
        var ex = Assert.Throws<ArgumentException>(data.Validate);
        Assert.That(ex!.Message, Does.Contain("'attention' is taken"));
    }

    [Test]
    public void Validate_SameMethodAndClassTwice_Throws()
    {
        var data = Sample() with { Maps = [new ViewerMap("g", 2, "x", new float[12]), new ViewerMap("g", 2, "x", new float[12])] };
        var ex = Assert.Throws<ArgumentException>(data.Validate);
        Assert.That(ex!.Message, Does.Contain("map 'g' for class 2 is given twice"));
    }

    [Test]
    public void Validate_SeenRegionOutsidePhoto_Throws()
    {
        var data = Sample() with { SeenRegion = new SKRect(10, 10, 300, 100) };
        var ex = Assert.Throws<ArgumentException>(data.Validate);
        Assert.That(ex!.Message, Does.Contain("SeenRegion").And.Contain("inside the 200×120 photo"));
    }

    [Test]
    public void Validate_ProbabilityAboveOne_Throws()
    {
        var data = Sample() with { Predictions = [new ViewerPrediction(0, "cat", 1.5f)] };
        var ex = Assert.Throws<ArgumentException>(data.Validate);
        Assert.That(ex!.Message, Does.Contain("ViewerData.Predictions").And.Contain("probability in 0..1"));
    }

    [Test]
    public void Validate_EmptyPhoto_Throws()
    {
        var data = Sample() with { Photo = [] };
        var ex = Assert.Throws<ArgumentException>(data.Validate);
        Assert.That(ex!.Message, Does.Contain("ViewerData.Photo is empty"));
    }
}
